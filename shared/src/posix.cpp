#include <procpool/shared/detail/posix.hpp>

#include <fcntl.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

namespace procpool::detail {

void unique_fd::reset(int fd) noexcept {
  if (fd_ >= 0 && fd_ != fd) ::close(fd_);
  fd_ = fd;
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

exit_status decode_child_info(const siginfo_t& info) noexcept {
  exit_status s;
  if (info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED) {
    s.signal = info.si_status;
  } else if (info.si_code == CLD_EXITED) {
    s.exit_code = info.si_status;
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

int open_pidfd(pid_t pid) noexcept { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

int pidfd_signal(int pidfd, int sig) noexcept {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

bool set_cloexec(int fd) noexcept {
  const int flags = ::fcntl(fd, F_GETFD);
  return flags >= 0 && ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC) == 0;
}

unique_fd dup_at_least(int fd, int lowest) {
  const int d = ::fcntl(fd, F_DUPFD_CLOEXEC, lowest);
  if (d < 0) throw std::system_error(errno, std::generic_category(), "fcntl(F_DUPFD_CLOEXEC)");
  return unique_fd(d);
}

unique_fd open_dev_null(int lowest) {
  unique_fd raw(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!raw) throw std::system_error(errno, std::generic_category(), "open /dev/null");
  if (raw.get() >= lowest) return raw;
  return dup_at_least(raw.get(), lowest);
}

bool stdin_from_dev_null() noexcept {
  const int fd = ::open("/dev/null", O_RDONLY);
  if (fd < 0) return false;
  if (fd != 0) {
    const bool ok = ::dup2(fd, 0) == 0;
    ::close(fd);
    return ok;
  }
  return true;
}

void close_fds_except(const int* keep, std::size_t count) noexcept {
  // Sorted copy on the stack: no allocation (a forked child of a threaded
  // process must not touch the allocator's locks).
  constexpr std::size_t max_keep = 16;
  int sorted[max_keep];
  std::size_t n = 0;
  for (std::size_t i = 0; i < count && n < max_keep; ++i) {
    if (keep[i] < 3) continue;
    std::size_t j = n++;
    for (; j > 0 && sorted[j - 1] > keep[i]; --j) sorted[j] = sorted[j - 1];
    sorted[j] = keep[i];
  }
  unsigned from = 3;
  for (std::size_t i = 0; i < n; ++i) {
    const auto k = static_cast<unsigned>(sorted[i]);
    if (k < from) continue;  // a duplicate
    if (k > from) ::close_range(from, k - 1, 0);
    from = k + 1;
  }
  ::close_range(from, ~0U, 0);
}

void default_signal_dispositions() noexcept {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; ++s) {
    if (s != SIGKILL && s != SIGSTOP) ::sigaction(s, &dfl, nullptr);
  }
}

void unblock_all_signals() noexcept {
  sigset_t none;
  sigemptyset(&none);
  ::pthread_sigmask(SIG_SETMASK, &none, nullptr);
}

signals_blocked::signals_blocked() noexcept {
  sigset_t all;
  sigfillset(&all);
  active_ = ::pthread_sigmask(SIG_SETMASK, &all, &old_) == 0;
}

void signals_blocked::restore() noexcept {
  if (!active_) return;
  const int e = errno;
  ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  active_ = false;
  errno = e;
}

pid_t fork_with_signals_blocked(void (*child)(void*) noexcept, void* arg, fork_kind kind) noexcept {
  // Or a forked child would write the parent's buffered output a second time.
  if (kind == fork_kind::fork) std::fflush(nullptr);
  signals_blocked blocked;
  // NOLINTNEXTLINE(clang-analyzer-security.insecureAPI.vfork): the child only execs or _exits
  const pid_t pid = kind == fork_kind::vfork ? ::vfork() : ::fork();
  if (pid == 0) {
    child(arg);
    ::_exit(127);
  }
  blocked.restore();  // keeps fork's errno
  return pid;
}

}  // namespace procpool::detail
