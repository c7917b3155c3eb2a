// Starting a worker process and decoding how it ended.
#pragma once

#include <procpool/worker/detail/worker_loop.hpp>

#include <sys/types.h>

#include <optional>
#include <string>

namespace procpool::detail {

/// A forked worker: its pid (also its process group) and a pidfd that becomes
/// readable when it exits.
struct started_worker {
  pid_t pid = -1;
  int pidfd = -1;
};

/// Forks a worker running run_worker(config) and exits with its code. The child
/// arms PR_SET_PDEATHSIG (the calling thread must live as long as the pool),
/// gets its own process group, default signal dispositions, an empty signal
/// mask, and only descriptors 0-2 and config.wake_fd. Throws
/// procpool::error(spawn_failed) if fork or pidfd_open fails.
started_worker fork_worker(worker_config config);

/// How a process ended: exactly one of exit_code and signal is set.
struct exit_status {
  std::optional<int> exit_code;
  std::optional<int> signal;
  /// "exited with code 3" / "was killed by signal 9 (SIGKILL)"
  [[nodiscard]] std::string describe() const;
};
[[nodiscard]] exit_status decode_wait_status(int status) noexcept;

/// Waits for `pid` (only that pid), retrying on EINTR. Blocks.
[[nodiscard]] exit_status reap(pid_t pid) noexcept;

/// Signals a worker's process group (and the worker itself, in case it has not
/// reached setpgid yet).
void signal_worker(pid_t pid, int sig) noexcept;

}  // namespace procpool::detail
