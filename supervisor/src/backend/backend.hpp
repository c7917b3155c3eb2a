// The seam between the pool's front (what users see: tags, results, retries,
// callbacks, map) and a backend (where tasks run: a queue, workers, time
// limits, the restart limit).
//
// The front hands a backend task messages, each with an id unique to one
// attempt; the backend reports back by id through backend_listener. The
// backend never sees a tag's record; the front never sees a ring, a worker row
// or a pid. make_backend() is the only place that chooses a backend.
//
//   front ──push / push_again / close / stop──> backend
//   front <──tasks_started / tasks_finished / backend_failed / workers_changed── backend
#pragma once

#include <procpool/shared/detail/deadline.hpp>
#include <procpool/shared/result.hpp>
#include <procpool/supervisor/options.hpp>
#include <procpool/supervisor/pool_stats.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace procpool::detail {

class shared_state_arena;

/// How a submission waits for queue space (the backpressure policy).
enum class space_policy { block, fail_fast, block_for };

/// One attempt of a task, as the front hands it to a backend.
struct task_message {
  std::uint64_t id = 0;        ///< unique per attempt: a late report of an old attempt names an old id
  std::uint32_t attempt = 1;   ///< 1 for the first run
  std::uint32_t flags = 0;     ///< message_flags
  std::string_view tag;
  std::string_view task;
  std::span<const std::uint8_t> payload;  ///< MessagePack positional arguments
  std::chrono::milliseconds timeout{0};   ///< this attempt's time limit (0: none)
};

enum class push_outcome {
  accepted,  ///< queued: the backend reports its outcome exactly once
  full,      ///< no room before the policy gave up
  refused,   ///< the backend is closed, stopping or failed
};

/// A finished attempt: its message id and outcome.
using finished_task = std::pair<std::uint64_t, procpool::result>;

/// A started attempt (only for messages sent with message_wake_on_claim).
struct started_task {
  std::uint64_t id;
  int worker_pid;
  std::uint32_t attempt;
};

/// How a backend reports to its front. Called on the backend's own thread,
/// never with a backend lock held; a listener may call the backend back.
class backend_listener {
 public:
  virtual ~backend_listener() = default;
  virtual void tasks_started(std::span<const started_task> started) noexcept = 0;
  /// Outcomes in the order the backend learned them. An id the front no longer
  /// knows (an attempt it already gave up on) must be ignored.
  virtual void tasks_finished(std::vector<finished_task>& finished) = 0;
  /// The backend can run nothing more (its restart limit, an internal fault).
  /// Said twice: first with nothing dropped, before intake stops (a
  /// submission refused from then on is refused as failed), then with
  /// `dropped`: what was queued and will never run.
  virtual void backend_failed(const std::string& why, std::vector<std::uint64_t> dropped) = 0;
  /// Workers started or exited: join() and terminate() waiters look again.
  virtual void workers_changed() noexcept = 0;
};

class backend {
 public:
  virtual ~backend() = default;

  /// Starts the backend's threads. Call once; `listener` outlives the backend.
  virtual void start(backend_listener& listener) = 0;

  /// Queues a new task, waiting for room as `policy` says (block_for: until
  /// `until`). Thread-safe.
  [[nodiscard]] virtual push_outcome push(const task_message& m, space_policy policy,
                                          const deadline& until) = 0;
  /// Queues another attempt of an accepted task: never blocks, ignores the
  /// queue bound and close(). False if the backend has stopped (it will not run).
  [[nodiscard]] virtual bool push_again(const task_message& m) = 0;

  /// Stops intake of new tasks; queued ones still run, then workers leave.
  virtual void close() = 0;
  /// Drops every queued message (not yet on a worker) and returns their ids;
  /// running tasks and intake go on. Non-blocking.
  [[nodiscard]] virtual std::vector<std::uint64_t> drop_queued() = 0;
  /// Stops now: intake refused, the queue dropped (returns the dropped ids),
  /// running tasks asked to stop, and killed when `grace` ends where the
  /// workers can be killed. Non-blocking.
  [[nodiscard]] virtual std::vector<std::uint64_t> stop(std::chrono::milliseconds grace) = 0;
  /// Blocks until stop() has finished: every worker gone, or (workers that
  /// cannot be killed) the grace over and their attempts reported cancelled.
  virtual void wait_stopped() = 0;
  /// No worker is alive (join's condition). Non-blocking.
  [[nodiscard]] virtual bool all_exited() const = 0;
  /// Stops the backend's threads. Requires: all_exited(). Idempotent.
  virtual void shutdown() noexcept = 0;

  /// Whether attempt `id` is on a worker now (else it is queued). Non-blocking.
  [[nodiscard]] virtual bool running(std::uint64_t id) const = 0;
  /// Adds the backend's figures (workers, queue) to `s`.
  virtual void add_stats(pool_stats& s) const = 0;
  /// The arena of the pool's shared-state objects.
  [[nodiscard]] virtual shared_state_arena& shared_state() const = 0;
};

/// The backend `opts` asks for. Throws procpool::error naming a bad option.
[[nodiscard]] std::unique_ptr<backend> make_backend(const options& opts);

}  // namespace procpool::detail
