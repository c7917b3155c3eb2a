// The greeting at start (see mpi_handshake.hpp).
#include "backend/mpi/mpi_handshake.hpp"

#include <procpool/shared/error.hpp>

#include <mpi.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <sstream>

namespace procpool::detail::mpi {
namespace {

using json = nlohmann::json;
using steady = std::chrono::steady_clock;

/// Polls for a message with `tag` from anyone until `until`.
std::optional<incoming> wait_for(transport& t, wire_tag tag, std::optional<steady::time_point> until) {
  backoff b;
  for (;;) {
    t.progress();
    if (auto in = t.receive()) {
      if (in->tag == tag) return in;
      continue;  // nothing else is expected now
    }
    if (until && steady::now() >= *until) return std::nullopt;
    b.idle();
  }
}

std::string describe(int rank, const hello& h) {
  return "rank " + std::to_string(rank) + " (host " + h.host + ", pid " + std::to_string(h.pid) + ")";
}

/// Why `theirs` cannot join `mine`, or empty.
std::string mismatch(const hello& mine, const hello& theirs) {
  if (theirs.version != mine.version) {
    return "runs procpool " + theirs.version + ", rank 0 runs " + mine.version;
  }
  if (theirs.registry != mine.registry) {
    std::ostringstream s;
    s << "has a different task registry (hash " << std::hex << theirs.registry << ", rank 0: " << mine.registry
      << "): every rank must run the same program";
    return s.str();
  }
  return {};
}

void tell_all(transport& t, const world& w, wire_tag tag, const std::vector<std::uint8_t>& bytes) {
  for (int r = 1; r < w.size; ++r) t.send(r, tag, bytes);
  flush(t);
}

[[noreturn]] void refuse(transport& t, const world& w, const std::string& why) {
  tell_all(t, w, wire_tag::welcome, pack(json{{"ok", false}, {"why", why}}));
  throw error(errc::invalid_argument, "pool::pool: options::backend = mpi: " + why);
}

}  // namespace

hello my_hello() { return hello{host_name(), static_cast<int>(::getpid()), version(), registry_hash()}; }

void flush(transport& t) {
  backoff b;
  while (t.sends_pending()) {
    if (!t.progress()) b.idle();
  }
}

std::vector<hello> greet_agents(transport& t, const world& w, const options& opts) {
  std::vector<hello> ranks(static_cast<std::size_t>(w.size));
  ranks[0] = my_hello();
  const auto until = steady::now() + opts.start_timeout;
  for (int n = 1; n < w.size; ++n) {
    const std::optional<incoming> in = wait_for(t, wire_tag::hello, until);
    if (!in) {
      refuse(t, w, "not every rank reported within " + std::to_string(opts.start_timeout.count()) +
                       " ms: does every rank's main() call procpool::mpi::serve_if_agent(argc, argv)?");
    }
    ranks[static_cast<std::size_t>(in->source)] = hello_from(unpack(in->bytes));
  }
  for (int r = 1; r < w.size; ++r) {
    const std::string why = mismatch(ranks[0], ranks[static_cast<std::size_t>(r)]);
    if (!why.empty()) refuse(t, w, describe(r, ranks[static_cast<std::size_t>(r)]) + " " + why);
  }
  tell_all(t, w, wire_tag::welcome, pack(json{{"ok", true}, {"options", options_to_wire(opts)}}));
  std::string failures;
  const auto ready_until = steady::now() + opts.start_timeout;
  for (int n = 1; n < w.size; ++n) {
    const std::optional<incoming> in = wait_for(t, wire_tag::ready, ready_until);
    if (!in) {
      failures += "; a rank did not start its workers within " + std::to_string(opts.start_timeout.count()) + " ms";
      break;
    }
    const json j = unpack(in->bytes);
    if (!j.at("ok").get<bool>()) {
      failures += "; " + describe(in->source, ranks[static_cast<std::size_t>(in->source)]) + ": " +
                  j.at("why").get<std::string>();
    }
  }
  if (!failures.empty()) {
    tell_all(t, w, wire_tag::control, pack_control(control_op::end));
    throw error(errc::spawn_failed, "pool::pool: options::backend = mpi" + failures);
  }
  return ranks;
}

std::optional<options> await_welcome(transport& t) {
  t.send(0, wire_tag::hello, pack(to_wire(my_hello())));
  const std::optional<incoming> in = wait_for(t, wire_tag::welcome, std::nullopt);
  const json j = unpack(in->bytes);
  if (j.value("no_pool", false)) return std::nullopt;
  if (!j.at("ok").get<bool>()) {
    throw error(errc::invalid_argument, "rank 0 refused this rank: " + j.at("why").get<std::string>());
  }
  return options_from(j.at("options"));
}

void release_agents() noexcept {
  try {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (initialized != 0) return;  // a pool was made (or refused): its session ends the agents
    const world w = init_once("procpool::mpi::serve_if_agent");
    if (w.rank == 0 && w.size > 1) {
      transport t;
      // Each agent's hello is answered; their messages are not needed.
      tell_all(t, w, wire_tag::welcome, pack(json{{"ok", false}, {"no_pool", true}}));
    }
  } catch (...) {
    // At exit nothing is left to tell: the launcher ends the agents when this
    // rank exits.
  }
  finalize();
}

void send_ready(transport& t, const std::string& failure) {
  t.send(0, wire_tag::ready, pack(json{{"ok", failure.empty()}, {"why", failure}}));
  flush(t);
}

}  // namespace procpool::detail::mpi
