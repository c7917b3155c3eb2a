#include "run_stop.hpp"

#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <string>

namespace procpool::cli::detail {

namespace {

/// "N" (a count, at least 1) or "N%" (more than 0, at most 100) after "fail=".
bool parse_fail(const std::string& v, halt_rule& rule) {
  if (v.empty()) return false;
  char* end = nullptr;
  if (v.back() == '%') {
    const double p = std::strtod(v.c_str(), &end);
    if (end != v.c_str() + v.size() - 1 || !std::isfinite(p) || p <= 0 || p > 100) return false;
    rule.fail_percent = p;
    return true;
  }
  if (v.find_first_not_of("0123456789") != std::string::npos) return false;
  const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
  if (*end != '\0' || n == 0) return false;
  rule.fail_count = n;
  rule.fail_percent = 0;
  return true;
}

void poke(int efd) noexcept {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(efd, &one, sizeof one);
}

}  // namespace

signal_guard::signal_guard() {
  sigemptyset(&stop_signals_);
  sigaddset(&stop_signals_, SIGINT);
  sigaddset(&stop_signals_, SIGTERM);
  sigaddset(&stop_signals_, SIGUSR1);  // the soft stop an MPI launcher forwards unchanged
  ::pthread_sigmask(SIG_BLOCK, &stop_signals_, &old_mask_);
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ignore, &old_pipe_);
}

signal_guard::~signal_guard() {
  ::sigaction(SIGPIPE, &old_pipe_, nullptr);
  ::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

std::string parse_halt(const std::string& text, halt_rule& rule) {
  halt_rule r;
  const std::string usage =
      "must be never, soon,fail=N, now,fail=N, soon,fail=N% or now,fail=N% (got '" + text + "')";
  if (text == "never") {
    rule = r;
    return {};
  }
  const std::size_t comma = text.find(',');
  const std::string when = text.substr(0, comma);
  if (when != "soon" && when != "now") return usage;
  r.policy = when == "now" ? halt_policy::now : halt_policy::soon;
  if (comma != std::string::npos) {  // "soon" alone means soon,fail=1
    const std::string cond = text.substr(comma + 1);
    if (cond.rfind("fail=", 0) != 0 || !parse_fail(cond.substr(5), r)) return usage;
  }
  rule = r;
  return {};
}

bool stop_control::open(const sigset_t& signals) {
  signal_fd_ = procpool::detail::unique_fd(::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
  wake_fd_ = procpool::detail::unique_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  stop_fd_ = procpool::detail::unique_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  return signal_fd_.get() >= 0 && wake_fd_.get() >= 0 && stop_fd_.get() >= 0;
}

void stop_control::request(int level) noexcept {
  int cur = level_.load();
  while (cur < level && !level_.compare_exchange_weak(cur, level)) {
  }
  poke(stop_fd_.get());
  poke(wake_fd_.get());
}

void stop_control::wake() noexcept { poke(wake_fd_.get()); }

void stop_control::line_ended(bool ok, std::uint64_t line, std::string_view tag) {
  const halt_rule& h = o_.halt;
  if (h.policy == halt_policy::off) return;
  const std::uint64_t ended = ended_.fetch_add(1) + 1;
  if (ok) return;  // only a failure can cross the threshold
  const std::uint64_t failures = failures_.fetch_add(1) + 1;
  const bool reached = h.fail_percent > 0
                           ? static_cast<double>(failures) * 100.0 >=
                                 h.fail_percent * static_cast<double>(ended)
                           : failures >= h.fail_count;
  if (!reached || halted_.exchange(true)) return;
  const bool now = h.policy == halt_policy::now;
  if (!o_.quiet) {
    err_.note("procpool: line " + std::to_string(line) + " (tag '" + std::string(tag) +
              "') did not end done; " + std::to_string(failures) + " of " +
              std::to_string(ended) + " ended lines failed: " +
              (now ? "terminating the tasks (--halt now)"
                   : "queued tasks cancelled, waiting for the running ones (--halt soon)"));
  }
  request(now ? 2 : 1);
}

void stop_control::take_signals() {
  signalfd_siginfo si{};
  while (::read(signal_fd_.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
    const int signo = static_cast<int>(si.ssi_signo);
    if (signo == SIGUSR1) {
      take_soft_stop_signal();
      continue;
    }
    ++signals_seen_;
    const std::string name = signo == SIGINT ? "SIGINT" : "SIGTERM";
    // Under an MPI launcher SIGTERM is the hard stop at once: Open MPI turns a
    // Ctrl-C into SIGTERM on every rank and kills the job about 1 s later.
    const bool hard = o_.backend == procpool::backend_kind::mpi && signo == SIGTERM;
    if (signals_seen_ == 1) {
      if (first_signal_ == 0) first_signal_ = signo;
      if (!o_.quiet) {
        err_.note("procpool: " + name +
                  (hard ? ": terminating the tasks"
                        : ": stopping: queued tasks cancelled, waiting for the running ones (" + name +
                              " again terminates them)"));
      }
      request(hard ? 2 : 1);
    } else if (signals_seen_ == 2) {
      if (!o_.quiet) err_.note("procpool: " + name + " again: terminating the tasks");
      request(2);
    }
  }
}

void stop_control::take_soft_stop_signal() {
  if (first_signal_ == 0) first_signal_ = SIGUSR1;
  if (level() >= 1) return;
  if (!o_.quiet) {
    err_.note("procpool: SIGUSR1: stopping: queued tasks cancelled, waiting for the running ones");
  }
  request(1);
}

void stop_control::clear_wake() noexcept {
  std::uint64_t v = 0;
  [[maybe_unused]] const ssize_t r = ::read(wake_fd_.get(), &v, sizeof v);
}

void stop_control::take_pending_signals() noexcept {
  signalfd_siginfo si{};
  while (::read(signal_fd_.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
    if (first_signal_ == 0) first_signal_ = static_cast<int>(si.ssi_signo);
  }
}

}  // namespace procpool::cli::detail
