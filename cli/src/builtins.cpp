#include "builtins.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <procpool/worker/task.hpp>
#include <procpool/worker/worker_main.hpp>
#include <system_error>
#include <thread>

#include "exec.hpp"
#include "exec_settings.hpp"
#include "sha256.hpp"
#include "text.hpp"

namespace procpool::cli::detail {

using json = nlohmann::json;

// ---- argument types: a bad shape is refused at submit (errc::bad_arguments) ----

struct command_argv {
  std::vector<std::string> argv;
};
struct duration_ms {
  double ms = 0;
};
struct prime_limit {
  std::uint64_t n = 0;
};
struct file_path {
  std::string path;
};

namespace {

[[noreturn]] void bad_shape(const json& j, const std::string& what) {
  throw json::type_error::create(
      302, what + ", got " + j.dump(-1, ' ', false, json::error_handler_t::replace), &j);
}

constexpr std::uint64_t max_prime_limit = 1'000'000'000'000ULL;
constexpr double max_sleep_ms = 1e10;

}  // namespace

void from_json(const json& j, command_argv& a) {
  if (j.is_string()) {  // just the program: "args":"uname" reads better than ["uname"]
    a.argv.assign(1, j.get<std::string>());
    if (a.argv.front().empty()) bad_shape(j, "the program name (argv[0]) must not be empty");
    if (a.argv.front().find('\0') != std::string::npos) bad_shape(j, "exec arguments cannot contain NUL");
    return;
  }
  if (!j.is_array() || j.empty()) bad_shape(j, "exec takes a non-empty list of strings (the argv)");
  a.argv.clear();
  a.argv.reserve(j.size());
  for (const json& e : j) {
    if (!e.is_string()) bad_shape(j, "every exec argument must be a string");
    const auto& s = *e.get_ptr<const std::string*>();
    if (s.find('\0') != std::string::npos) bad_shape(j, "exec arguments cannot contain NUL");
    a.argv.push_back(s);
  }
  if (a.argv.front().empty()) bad_shape(j, "the program name (argv[0]) must not be empty");
}

void from_json(const json& j, duration_ms& d) {
  if (!j.is_number() || !(j.get<double>() >= 0) || j.get<double>() > max_sleep_ms) {
    bad_shape(j, "sleep takes a number of milliseconds from 0 to 1e10");
  }
  d.ms = j.get<double>();
}

void from_json(const json& j, prime_limit& p) {
  bool ok = false;
  if (j.is_number_unsigned()) {
    ok = true;
    p.n = j.get<std::uint64_t>();
  } else if (j.is_number_integer()) {
    ok = j.get<std::int64_t>() >= 0;
    if (ok) p.n = j.get<std::uint64_t>();
  } else if (j.is_number_float()) {
    const double v = j.get<double>();
    ok = v >= 0 && std::floor(v) == v && v <= static_cast<double>(max_prime_limit);
    if (ok) p.n = static_cast<std::uint64_t>(v);
  }
  if (!ok || p.n > max_prime_limit) bad_shape(j, "primes takes an integer n from 0 to 1e12");
}

void from_json(const json& j, file_path& f) {
  if (!j.is_string() || j.get_ref<const std::string&>().empty()) {
    bad_shape(j, "sha256 takes a file path (a non-empty string)");
  }
  f.path = j.get<std::string>();
  if (f.path.find('\0') != std::string::npos) bad_shape(j, "a path cannot contain NUL");
}

namespace {

// ---- the tasks ---------------------------------------------------------------------

json exec_task(task_context& ctx, const command_argv& a) { return exec_value(ctx, a.argv); }

void sleep_task(task_context& ctx, const duration_ms& d) {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + std::chrono::duration_cast<clock::duration>(
                                           std::chrono::duration<double, std::milli>(d.ms));
  constexpr auto slice = std::chrono::milliseconds{20};  // how soon a stop request is seen
  for (;;) {
    const auto now = clock::now();
    if (now >= deadline) return;
    if (ctx.stop_requested()) throw task_stopped("sleep: stopped on request");
    std::this_thread::sleep_for(std::min<clock::duration>(deadline - now, slice));
  }
}

std::uint64_t primes_task(task_context& ctx, const prime_limit& p) {
  // Trial division on purpose: this is the CPU-bound demo task.
  if (p.n <= 2) return 0;
  std::uint64_t count = 1;  // 2
  for (std::uint64_t k = 3; k < p.n; k += 2) {
    if ((k & 0xFFFFU) == 1 && ctx.stop_requested())
      throw task_stopped("primes: stopped on request");
    bool prime = true;
    for (std::uint64_t d = 3; d * d <= k; d += 2) {
      if (k % d == 0) {
        prime = false;
        break;
      }
    }
    if (prime) ++count;
  }
  return count;
}

json echo_task(const json& args) { return args; }

std::string sha256_task(task_context& ctx, const file_path& f) {
  const int fd = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw std::system_error(errno, std::generic_category(), "sha256: open '" + f.path + "'");
  }
  struct closer {
    int fd;
    explicit closer(int f) : fd(f) {}
    closer(const closer&) = delete;
    closer& operator=(const closer&) = delete;
    closer(closer&&) = delete;
    closer& operator=(closer&&) = delete;
    ~closer() { ::close(fd); }
  } close_at_end{fd};
  sha256 h;
  std::vector<std::uint8_t> buf(std::size_t{1} << 16U);
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n > 0) {
      h.update(buf.data(), static_cast<std::size_t>(n));
      if (ctx.stop_requested()) throw task_stopped("sha256: stopped on request");
      continue;
    }
    if (n == 0) break;
    if (errno == EINTR) continue;
    throw std::system_error(errno, std::generic_category(), "sha256: read '" + f.path + "'");
  }
  return h.finish_hex();
}

// ---- the table ---------------------------------------------------------------------

struct builtin {
  std::string_view name;
  std::string_view args;
  std::string_view description;
  bool registered = false;  // by us (false: absent, or the program's own task)
};

std::array<builtin, 5>& table() {
  static std::array<builtin, 5> t = {{
      {"echo", "any JSON value", "returns its args exactly as written"},
      {"exec", "[\"program\", \"arg\", ...]",
       "runs a program without a shell (PATH lookup, stdin /dev/null); value: "
       "{exit_code, stdout, stderr, truncated} (--max-output bytes of each stream kept); a "
       "non-zero exit or a signal fails the task, its output kept in the result"},
      {"primes", "n (integer, 0 to 1e12)",
       "counts the primes below n by trial division (CPU-bound)"},
      {"sha256", "\"path\"", "SHA-256 of a file's contents, 64 lower-case hex digits"},
      {"sleep", "ms (number, 0 to 1e10)", "sleeps that many milliseconds; value null"},
  }};
  return t;
}

void register_if_free(builtin& b, procpool::detail::task_entry entry) {
  if (procpool::detail::find_task(b.name) != nullptr) return;  // the program's own task wins
  procpool::detail::register_task(std::move(entry));
  b.registered = true;
}

}  // namespace

void register_builtin_tasks() {
  static std::once_flag once;
  std::call_once(once, [] {
    auto& t = table();
    using procpool::detail::make_task_entry;
    register_if_free(t[0], make_task_entry("echo", &echo_task));
    register_if_free(t[1], make_task_entry("exec", &exec_task));
    register_if_free(t[2], make_task_entry("primes", &primes_task));
    register_if_free(t[3], make_task_entry("sha256", &sha256_task));
    register_if_free(t[4], make_task_entry("sleep", &sleep_task));
    register_exec_settings_task();
    // A spawned worker (MPI agents start theirs so) runs this too: it is not
    // the supervisor, whose exec children need a process group of their own.
    if (std::getenv(procpool::detail::worker_env) == nullptr) note_supervisor_process();
  });
}

bool is_builtin(std::string_view task) noexcept {
  for (const builtin& b : table()) {
    if (b.registered && b.name == task) return true;
  }
  return false;
}

std::vector<task_info> list_tasks() {
  std::vector<task_info> out;
  for (const std::string& name : procpool::detail::task_names()) {
    if (name == exec_settings_task) continue;  // the command's initializer, not a job
    const procpool::detail::task_entry* e = procpool::detail::find_task(name);
    task_info info;
    info.name = name;
    info.arity = e != nullptr ? e->arity : 0;
    if (e != nullptr) info.params = e->param_types;
    bool found = false;
    for (const builtin& b : table()) {
      if (b.registered && b.name == name) {
        info.args = b.args;
        info.description = b.description;
        info.builtin = true;
        found = true;
      }
    }
    if (!found) {
      // The types say more than a count, and are what "args" must convert to.
      for (const std::string& p : info.params) info.args += (info.args.empty() ? "" : ", ") + p;
      if (info.params.empty()) info.args = "none";
      info.description = "registered by this program";
    }
    out.push_back(std::move(info));
  }
  return out;
}

}  // namespace procpool::cli::detail
