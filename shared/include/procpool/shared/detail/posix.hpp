// POSIX process plumbing shared by the supervisor's backends, the worker
// entry point and the command line's `exec`: one owner for descriptors, one
// decoder for how a process ended, and one way to fork safely from a process
// that may have other threads and signal handlers.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>
#include <utility>

namespace procpool::detail {

/// Owns one file descriptor (or none: -1) and closes it on destruction.
class unique_fd {
 public:
  unique_fd() noexcept = default;
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }

  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] explicit operator bool() const noexcept { return fd_ >= 0; }
  /// Gives up ownership: the caller closes the descriptor.
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }
  /// Closes the current descriptor (if any) and owns `fd` instead.
  void reset(int fd = -1) noexcept;

 private:
  int fd_ = -1;
};

/// How a process ended: exactly one of exit_code and signal is set (an
/// unknown end reads as exit code -1).
struct exit_status {
  std::optional<int> exit_code;
  std::optional<int> signal;
  /// "exited with code 3" / "was killed by signal 9 (SIGKILL)"
  [[nodiscard]] std::string describe() const;
  /// Exited with code 0.
  [[nodiscard]] bool clean() const noexcept { return !signal && exit_code == 0; }
};
/// From a waitpid() status.
[[nodiscard]] exit_status decode_wait_status(int status) noexcept;
/// From what waitid() filled in for an exited child (si_code CLD_EXITED,
/// CLD_KILLED or CLD_DUMPED).
[[nodiscard]] exit_status decode_child_info(const siginfo_t& info) noexcept;

/// Waits for `pid` (only that pid), retrying on EINTR. Blocks.
[[nodiscard]] exit_status reap(pid_t pid) noexcept;

/// pidfd_open(2): a descriptor (close-on-exec) that becomes readable when
/// `pid` exits and names that process even after its pid is reused; -1 with
/// errno set on failure. (glibc 2.36's <sys/pidfd.h> lacks C linkage for C++.)
[[nodiscard]] int open_pidfd(pid_t pid) noexcept;
/// pidfd_send_signal(2): 0, or -1 with errno (ESRCH once the process is reaped).
int pidfd_signal(int pidfd, int sig) noexcept;

/// Sets FD_CLOEXEC on `fd`; false with errno set on failure.
bool set_cloexec(int fd) noexcept;

/// A close-on-exec duplicate of `fd` numbered `lowest` or higher.
/// Throws std::system_error on failure.
[[nodiscard]] unique_fd dup_at_least(int fd, int lowest);

/// Opens /dev/null read-only, close-on-exec, numbered `lowest` or higher.
/// Throws std::system_error on failure.
[[nodiscard]] unique_fd open_dev_null(int lowest = 3);

/// In a child: makes descriptor 0 read /dev/null (a worker must never read the
/// terminal: reading it from a background process group stops the process
/// with SIGTTIN). False if /dev/null cannot be opened. System calls only.
bool stdin_from_dev_null() noexcept;

/// Closes every descriptor from 3 up except the (at most 16) in `keep`.
/// System calls only: safe between fork and exec.
void close_fds_except(const int* keep, std::size_t count) noexcept;

/// Every catchable signal back to its default disposition.
void default_signal_dispositions() noexcept;
/// An empty signal mask for the calling thread.
void unblock_all_signals() noexcept;

/// Blocks every signal in the calling thread until destroyed (or restore()).
class signals_blocked {
 public:
  signals_blocked() noexcept;
  signals_blocked(const signals_blocked&) = delete;
  signals_blocked& operator=(const signals_blocked&) = delete;
  ~signals_blocked() { restore(); }
  /// Back to the mask the thread had before; errno is preserved.
  void restore() noexcept;

 private:
  sigset_t old_{};
  bool active_ = false;
};

enum class fork_kind {
  fork,   ///< a copy of the process (stdio is flushed first)
  vfork,  ///< borrows the parent's memory until the child execs or _exits
};

/// Forks with every signal blocked and runs `child(arg)` in the child, which
/// must not return (it execs or _exits; a return _exits with 127). The child
/// starts with all signals blocked, so no handler of the host program runs in
/// it while it resets dispositions and its mask; the parent's mask is restored
/// before this returns. Returns the child's pid, or -1 with errno set.
pid_t fork_with_signals_blocked(void (*child)(void*) noexcept, void* arg,
                                fork_kind kind = fork_kind::fork) noexcept;

/// The same for any callable: `child()` runs in the child.
template <class F>
pid_t fork_with_signals_blocked(F& child, fork_kind kind = fork_kind::fork) noexcept {
  return fork_with_signals_blocked([](void* f) noexcept { (*static_cast<F*>(f))(); },
                                   static_cast<void*>(&child), kind);
}

}  // namespace procpool::detail
