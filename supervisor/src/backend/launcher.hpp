// How the local backend starts, signals and reaps its workers: the one thing
// that differs between thread mode and process mode (fork server, fork, spawn).
// Everything else (the ring, the worker loop, time limits, the restart limit)
// is the local backend's, the same for every launcher.
#pragma once

#include "backend/worker_process.hpp"

#include <procpool/supervisor/options.hpp>
#include <procpool/worker/detail/worker_loop.hpp>

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace procpool::detail {

/// A started worker as the local backend tracks it.
struct worker_handle {
  pid_t pid = -1;   ///< the worker process (thread mode: this process)
  int pidfd = -1;   ///< readable once the process ended; -1 for a thread
};

/// What a launcher is made from: the options, every worker's configuration but
/// its row, and the descriptors a fresh program must be given.
struct launch_context {
  const options& opts;
  worker_config base;
  int segment_fd = -1;
  int arena_fd = -1;
};

class launcher {
 public:
  virtual ~launcher() = default;

  /// Starts a worker on row `config.index`. Called by the monitor thread only.
  /// Throws procpool::error(spawn_failed) naming the reason.
  virtual worker_handle launch(const worker_config& config) = 0;
  /// Whether a worker can be stopped by force: false for threads, whose stuck
  /// task can only be abandoned.
  [[nodiscard]] virtual bool can_kill() const noexcept = 0;
  /// Sends `sig` to the worker and its process group. Requires: not reaped yet.
  virtual void signal(const worker_handle& w, int sig) noexcept = 0;
  /// Collects an ended worker (its pidfd was readable, or its thread returned)
  /// and says how it ended. Afterwards its pid may be reused.
  virtual exit_status reap(std::uint32_t index, const worker_handle& w) = 0;

  /// A descriptor the monitor polls for the launcher (the fork server's
  /// socket), or -1; on_event() handles what it reported.
  [[nodiscard]] virtual int event_fd() const noexcept { return -1; }
  virtual void on_event() {}

  /// How long a started worker has to attach to the pool (spawn), if bounded.
  [[nodiscard]] virtual std::optional<std::chrono::milliseconds> attach_timeout() const noexcept {
    return std::nullopt;
  }
  /// Why a worker that ended before it was ready did not start.
  [[nodiscard]] virtual std::string start_failure(const worker_handle& w, const exit_status& how,
                                                  bool attached) const;
  /// Why a worker that did not attach within attach_timeout() failed.
  [[nodiscard]] virtual std::string attach_failure() const { return "worker did not attach"; }
};

/// Workers are threads of this process.
[[nodiscard]] std::unique_ptr<launcher> make_thread_launcher(const launch_context& ctx);
/// Workers are processes, started as options::start says.
[[nodiscard]] std::unique_ptr<launcher> make_process_launcher(const launch_context& ctx);

}  // namespace procpool::detail
