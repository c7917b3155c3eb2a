#include <procpool/shared/error.hpp>
#include "backend/worker_process.hpp"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

namespace procpool::detail {

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
  // Never the host's terminal: a task that reads stdin in a background process
  // group would be stopped by SIGTTIN and hang. End of file at once instead.
  (void)stdin_from_dev_null();
  close_fds_except(&config.wake_fd, 1);
  // Ours only: a program a task execs must not hold the pool's wake eventfd.
  (void)set_cloexec(config.wake_fd);
  unblock_all_signals();

  apply_resource_limits(config);
  configure_worker_heap();
  config.pid = static_cast<int>(::getpid());
  const int code = run_worker(config);
  std::fflush(nullptr);
  ::_exit(code);
}

started_worker fork_worker(worker_config config) {
  const pid_t parent = ::getpid();
  auto child = [&]() noexcept { become_worker(std::move(config), parent); };
  const pid_t pid = fork_with_signals_blocked(child);
  if (pid < 0) {
    throw error(errc::spawn_failed, std::string("fork: ") + std::strerror(errno));
  }
  ::setpgid(pid, pid);  // both sides set it, so kill(-pid) works at once
  const int fd = open_pidfd(pid);
  if (fd < 0) {
    const int e = errno;
    ::kill(pid, SIGKILL);
    (void)reap(pid);
    throw error(errc::spawn_failed, std::string("pidfd_open: ") + std::strerror(e));
  }
  return {pid, fd};
}

void signal_worker(int pidfd, pid_t pid, int sig) noexcept {
  if (pidfd >= 0) {
    if (pidfd_signal(pidfd, sig) != 0) {
      if (errno == ESRCH) return;  // reaped: its pid and group may name others now
      if (pid > 0) ::kill(pid, sig);  // no pidfd_send_signal here (ENOSYS)
    }
  } else if (pid > 0) {
    ::kill(pid, sig);
  }
  if (pid > 0) ::killpg(pid, sig);
}

void signal_worker(pid_t pid, int sig) noexcept {
  if (pid <= 0) return;
  ::kill(-pid, sig);
  ::kill(pid, sig);
}

}  // namespace procpool::detail
