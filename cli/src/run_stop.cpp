#include "run_stop.hpp"

#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <string>

namespace procpool::cli::detail {

namespace {

void poke(int efd) noexcept {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(efd, &one, sizeof one);
}

}  // namespace

signal_guard::signal_guard() {
  sigemptyset(&stop_signals_);
  sigaddset(&stop_signals_, SIGINT);
  sigaddset(&stop_signals_, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &stop_signals_, &old_mask_);
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ignore, &old_pipe_);
}

signal_guard::~signal_guard() {
  ::sigaction(SIGPIPE, &old_pipe_, nullptr);
  ::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
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

void stop_control::line_failed(std::uint64_t line, std::string_view tag) {
  if (o_.halt == halt_policy::off || halted_.exchange(true)) return;
  if (!o_.quiet) {
    err_.note("procpool: line " + std::to_string(line) + " (tag '" + std::string(tag) +
              "') did not end done: " +
              (o_.halt == halt_policy::now ? "terminating (--halt-on-error=now)"
                                           : "no new tasks, draining (--halt-on-error)"));
  }
  request(o_.halt == halt_policy::now ? 2 : 1);
}

void stop_control::take_signals() {
  signalfd_siginfo si{};
  while (::read(signal_fd_.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
    ++signals_seen_;
    const int signo = static_cast<int>(si.ssi_signo);
    const std::string name = signo == SIGINT ? "SIGINT" : "SIGTERM";
    if (signals_seen_ == 1) {
      first_signal_ = signo;
      if (!o_.quiet) {
        err_.note("procpool: " + name + ": no new tasks; draining the running and queued ones (" +
                  name + " again terminates them)");
      }
      request(1);
    } else if (signals_seen_ == 2) {
      if (!o_.quiet) err_.note("procpool: " + name + " again: terminating the tasks");
      request(2);
    }
  }
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
