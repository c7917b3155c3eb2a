// Starting a worker process and decoding how it ended.
#pragma once

#include <procpool/shared/detail/posix.hpp>
#include <procpool/worker/detail/worker_loop.hpp>

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>

namespace procpool::detail {

/// A forked worker: its pid (also its process group) and a pidfd that becomes
/// readable when it exits.
struct started_worker {
  pid_t pid = -1;
  int pidfd = -1;
};

// exit_status, decode_wait_status, reap, default_signal_dispositions and
// unique_fd come from <procpool/shared/detail/posix.hpp>, the one copy the
// backends, the worker entry point and the command line share.

/// Signals a worker and its process group: the worker through its pidfd (so
/// a reused pid is never hit), the group with killpg(pid). The caller
/// guarantees the worker is unreaped (the fork server: until wait_exit(pid)),
/// so the group id is still the worker's. If the pidfd says the worker is
/// already reaped (ESRCH) the group is left alone. `pidfd` < 0: the pid is used.
void signal_worker(int pidfd, pid_t pid, int sig) noexcept;

/// The pid-only form: signals the process group and the worker itself (in
/// case it has not reached setpgid yet). Safe only while the worker is
/// unreaped. Superseded by the pidfd form; kept until every caller has one.
void signal_worker(pid_t pid, int sig) noexcept;

/// In a freshly forked child: becomes a worker and never returns. Arms
/// PR_SET_PDEATHSIG (and exits if `parent` is already gone), waits for one byte
/// on `gate` if it is >= 0 (the fork server releases it once it holds the
/// worker's pidfd), takes its own process group, default signal dispositions,
/// /dev/null as stdin, keeps only descriptors 0-2 and config.wake_fd (made
/// close-on-exec: programs a task execs get none of the pool's descriptors), an
/// empty signal mask, the resource limits; runs run_worker(config) and exits
/// with its code. The caller forked with every signal blocked.
[[noreturn]] void become_worker(worker_config config, pid_t parent, int gate = -1) noexcept;

/// Forks (with every signal blocked) a worker that runs run_worker(config) and
/// exits with its code; the child is set up by become_worker. It arms
/// PR_SET_PDEATHSIG: the calling thread must live as long as the pool. Throws procpool::error(spawn_failed) if fork or
/// pidfd_open fails.
started_worker fork_worker(worker_config config);

/// Starts a fresh worker program with Boost.Process: `executable` (this program
/// when empty) with the worker flag, /dev/null as stdin, the segment on
/// descriptor 3, the wake eventfd on 4 and the shared-state arena on 5 (the
/// worker makes them close-on-exec once it runs), nothing else from 3 up,
/// default signal dispositions and an empty mask, PROCPOOL_WORKER set. Throws
/// procpool::error(spawn_failed) naming the program and the reason (missing,
/// not executable...).
started_worker spawn_worker(const worker_config& config, const std::string& executable,
                            int segment_fd, int shared_state_fd);

/// The fork server: a single-threaded process forked when the pool is created,
/// before the pool starts any thread. It forks every worker on request (so no
/// worker comes from a threaded process) and reports when one exits. If the
/// supervisor dies its socket closes: the server SIGKILLs its workers' process
/// groups and exits.
///
/// Reaping guarantee: the server reaps a worker it forked only when the
/// supervisor asks, through wait_exit(pid). Until then an exited worker stays
/// an unreaped zombie, so its pid, which is also its process group id, cannot
/// be reused: the supervisor may signal the worker and its group (signal_worker)
/// at any time before it calls wait_exit, and must not after.
class fork_server {
 public:
  /// Forks the server now. `base` is every worker's configuration but the row.
  explicit fork_server(const worker_config& base);
  ~fork_server();
  fork_server(const fork_server&) = delete;
  fork_server& operator=(const fork_server&) = delete;

  /// Guardian duty (fork and spawn start methods): `pid` is a worker the pool
  /// started itself; if the supervisor dies the server kills its process group.
  void watch(pid_t pid) noexcept;
  /// The pool reaped `pid`: forget it.
  void unwatch(pid_t pid) noexcept;
  /// The server is gone (killed, or its socket failed).
  [[nodiscard]] bool dead() const noexcept { return dead_; }

  /// A new worker in row `index`. Blocks for the server's reply (a fork).
  /// Throws procpool::error(spawn_failed) if the fork failed or the server is gone.
  started_worker start(std::uint32_t index);
  /// The socket to poll; readable when reports arrive or the server died.
  [[nodiscard]] int fd() const noexcept { return sock_; }
  /// Reads the reports available now, without blocking.
  void pump();
  /// How worker `pid` ended, once the server has reported its exit (see pump);
  /// it is still unreaped then. nullopt while it runs or before the report.
  [[nodiscard]] std::optional<exit_status> exited(pid_t pid) const;
  /// Asks the server to kill what is left of worker `pid`'s process group and
  /// reap it, and returns its exit status. Call it once the worker's pidfd is
  /// readable (it has exited) and the supervisor is done signalling it: from
  /// here its pid may be reused. Blocks for the server's answer (bounded: a
  /// server that does not answer is killed, and the worker counts as SIGKILLed).
  exit_status wait_exit(pid_t pid);

 private:
  struct message {
    std::int32_t kind;
    std::int32_t pid;
    std::int32_t value;
    std::uint32_t index;
    int pidfd;  ///< received with a `started` reply (SCM_RIGHTS), else -1
  };
  /// Reads one message; false once the server is gone. A blocking read waits
  /// at most reply_timeout: a server that does not answer by then (one forked
  /// from a threaded process can hang on a lock it inherited) is killed and
  /// counts as gone, so the pool's monitor never blocks on it.
  bool read_one(bool block);
  static constexpr int reply_timeout_ms = 5000;

  pid_t pid_ = -1;
  int sock_ = -1;
  bool dead_ = false;
  std::unordered_map<pid_t, exit_status> exits_;   // exited, reported, not reaped yet
  std::unordered_map<pid_t, exit_status> reaped_;  // answers to wait_exit's reap requests
  std::deque<message> replies_;
};

}  // namespace procpool::detail
