#include <procpool/shared/error.hpp>
#include "backend/worker_process.hpp"

#include <sys/syscall.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

namespace procpool::detail {
void default_signal_dispositions() noexcept {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; ++s) {
    if (s != SIGKILL && s != SIGSTOP) ::sigaction(s, &dfl, nullptr);
  }
}

[[noreturn]] void become_worker(worker_config config, pid_t parent, int gate) noexcept {
  // Only what must precede the worker loop. The mask was blocked by the parent
  // around fork, so no handler of the host program runs in this process.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(71);  // the parent died during fork
  if (gate >= 0) {
    char go = 0;
    while (::read(gate, &go, 1) < 0 && errno == EINTR) {
    }
    if (go != 1) ::_exit(71);  // the server could not watch us: run nothing
  }
  ::setpgid(0, 0);
  default_signal_dispositions();
  const int keep = config.wake_fd;
  if (keep > 3) ::close_range(3, static_cast<unsigned>(keep - 1), 0);
  ::close_range(static_cast<unsigned>(keep + 1), ~0U, 0);
  if (keep < 3) ::close_range(3, ~0U, 0);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  apply_resource_limits(config);
  config.pid = static_cast<int>(::getpid());
  const int code = run_worker(config);
  std::fflush(nullptr);
  ::_exit(code);
}

started_worker fork_worker(worker_config config) {
  std::fflush(nullptr);  // or the child would write the parent's buffered output again
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) become_worker(std::move(config), parent);
  const int fork_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) {
    throw error(errc::spawn_failed, std::string("fork: ") + std::strerror(fork_errno));
  }
  ::setpgid(pid, pid);  // both sides set it, so kill(-pid) works at once
  // glibc 2.36's <sys/pidfd.h> lacks C linkage for C++; call the system call.
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) {
    const int e = errno;
    ::kill(pid, SIGKILL);
    (void)reap(pid);
    throw error(errc::spawn_failed, std::string("pidfd_open: ") + std::strerror(e));
  }
  return {pid, fd};
}

std::string exit_status::describe() const {
  if (signal) {
    const char* abbrev = ::sigabbrev_np(*signal);
    return "was killed by signal " + std::to_string(*signal) +
           (abbrev != nullptr ? " (SIG" + std::string(abbrev) + ")" : std::string());
  }
  return "exited with code " + std::to_string(exit_code.value_or(-1));
}

exit_status decode_wait_status(int status) noexcept {
  exit_status s;
  if (WIFSIGNALED(status)) {
    s.signal = WTERMSIG(status);
  } else if (WIFEXITED(status)) {
    s.exit_code = WEXITSTATUS(status);
  } else {
    s.exit_code = -1;
  }
  return s;
}

exit_status reap(pid_t pid) noexcept {
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, 0);
    if (r == pid) return decode_wait_status(status);
    if (r < 0 && errno == EINTR) continue;
    exit_status unknown;
    unknown.exit_code = -1;
    return unknown;
  }
}

void signal_worker(pid_t pid, int sig) noexcept {
  if (pid <= 0) return;
  ::kill(-pid, sig);
  ::kill(pid, sig);
}

}  // namespace procpool::detail
