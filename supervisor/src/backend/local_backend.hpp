// The local backend: one machine's workers behind the shared-memory task ring.
// Thread mode and process mode are this same backend with another launcher.
//
// Threads: callers push (and may wait for room); the monitor thread (started
// by start(), alive until shutdown()) starts workers, drains their result
// rings, reaps them, arms and enforces time limits and stop()'s grace, counts
// start failures against the restart limit, and reports to the listener.
// Workers are started only by the monitor thread, so PR_SET_PDEATHSIG (tied to
// the forking thread) fires only when the pool goes.
//
// Lock order: m_ -> the queue lock. The listener is called with neither held.
#pragma once

#include "backend/backend.hpp"
#include "backend/launcher.hpp"
#include "batch_outcome.hpp"

#include <procpool/shared/detail/layout.hpp>
#include <procpool/shared/detail/segment.hpp>
#include <procpool/shared/detail/shared_state_arena.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

namespace procpool::detail {

class local_backend final : public backend {
 public:
  using launcher_factory = std::unique_ptr<launcher> (*)(const launch_context&);

  /// Sets up the shared memory, the arena and the launcher (which may fork the
  /// fork server: before any pool thread exists). `opts` is validated.
  local_backend(const options& opts, segment::kind memory, launcher_factory make_launcher);
  ~local_backend() override;
  local_backend(const local_backend&) = delete;
  local_backend& operator=(const local_backend&) = delete;

  void start(backend_listener& listener) override;
  [[nodiscard]] push_outcome push(const task_message& m, space_policy policy,
                                  const deadline& until) override;
  [[nodiscard]] bool push_again(const task_message& m) override;
  void close() override;
  [[nodiscard]] std::vector<std::uint64_t> drop_queued() override;
  [[nodiscard]] std::vector<std::uint64_t> stop(std::chrono::milliseconds grace) override;
  void wait_stopped() override;
  [[nodiscard]] bool all_exited() const override;
  void shutdown() noexcept override;
  [[nodiscard]] bool running(std::uint64_t id) const override;
  void add_stats(pool_stats& s) const override;
  [[nodiscard]] shared_state_arena& shared_state() const override { return *arena_; }

 private:
  enum class phase { running, closing, stopping, failed };
  using steady = std::chrono::steady_clock;

  struct worker_slot {
    bool used = false;
    worker_handle handle;
    bool dead = false;    ///< its pidfd was readable: ended, not reaped yet
    bool killed = false;  ///< SIGKILL sent
    std::uint64_t watched_id = 0;          ///< the claim `deadline` belongs to
    std::uint32_t watched_item = 0;        ///< and its batch input (message_batch_progress)
    std::optional<steady::time_point> deadline;
    std::uint64_t timed_out_id = 0;        ///< the attempt this worker was stopped for
    std::optional<steady::time_point> kill_at;
    std::optional<steady::time_point> attach_deadline;
    bool attach_timed_out = false;
  };

  /// What one pass of the monitor has to tell the listener; sent with no lock held.
  struct report {
    std::vector<finished_task> finished;
    std::vector<started_task> started;
    std::optional<std::string> failure;
    std::vector<std::uint64_t> dropped;
    bool workers_changed = false;
    /// stop() has nothing more to wait for: said only after the outcomes
    /// above reached the listener, so terminate() returns with every tag settled.
    bool stop_settled = false;
  };

  /// A message kept by the backend until the ring has room (push_again).
  struct owned_message {
    std::uint64_t id;
    std::uint32_t attempt, flags;
    std::string tag, task;
    std::vector<std::uint8_t> payload;
  };

  // --- the monitor thread (local_monitor.cpp) ----------------------------------
  void monitor_loop() noexcept;
  void monitor_pass(report& out);
  void sleep_until_event(std::optional<steady::time_point> wake_at, bool worked);
  void monitor_fault(const std::string& what) noexcept;
  void deliver(report& r);
  bool drain_results(report& out);
  void drain_row(std::uint32_t i, report& out);
  /// A finished record of the result ring as a result (false: a batch input's
  /// outcome, kept in partials_).
  bool read_record(const incoming_result& in, int pid, procpool::result& r);
  /// The outcomes so far of a progress batch, taken out as a batch outcome
  /// (null if none). Requires: m_ held.
  nlohmann::json take_partials_locked(std::uint64_t id);
  void reap_finished_workers(report& out);
  void release_slot(std::uint32_t i, const exit_status& how, report& out);
  void attribute_claim_locked(std::uint32_t i, std::uint64_t claimed, const exit_status& how,
                              report& out);
  void reset_row_locked(std::uint32_t i);
  void maybe_spawn(report& out);
  void spawn_one(std::uint32_t i, report& out);
  std::optional<steady::time_point> enforce_time_limits(report& out);
  void check_deadline_locked(std::uint32_t i, steady::time_point now, report& out);
  void enforce_stop_deadline(report& out);
  bool push_backlog(report& out);
  [[nodiscard]] bool anything_pending() const;
  /// Counts a start failure; true (and `out.failure` set) if it put the
  /// backend past its restart limit just now.
  bool record_start_failure_locked(const std::string& why, report& out);
  /// The restart limit or an internal fault: tells the listener, then stops
  /// intake and drops the queue into `out.dropped`. Requires: out.failure set.
  void fail_now(report& out);
  /// Stops intake and drops the queue; returns the dropped ids.
  std::vector<std::uint64_t> stop_intake(bool drop);
  /// Takes every queued message out of the ring and the backlog; their ids.
  std::vector<std::uint64_t> drop_all_queued();

  // --- shared helpers (local_backend.cpp) ---------------------------------------
  [[nodiscard]] worker_config base_config() const;
  [[nodiscard]] bool spawn_wanted_locked() const;
  [[nodiscard]] std::size_t idle_or_starting_locked() const;
  [[nodiscard]] std::uint64_t queued() const noexcept;
  void wake_monitor() const noexcept;

  const options opts_;
  segment seg_;
  segment_header* hdr_ = nullptr;
  std::unique_ptr<shared_state_arena> arena_;
  int wake_fd_ = -1;
  nlohmann::json init_args_;  // the initializer's positional arguments
  std::unique_ptr<launcher> launcher_;
  backend_listener* listener_ = nullptr;

  mutable std::mutex m_;
  std::condition_variable cv_;  // wait_stopped()
  phase phase_ = phase::running;                          // guarded by m_
  std::optional<steady::time_point> stop_deadline_;       // guarded by m_: stop()'s grace ends
  bool stop_settled_ = false;  // guarded by m_: stop() has nothing more to wait for
  bool stop_threads_ = false;  // guarded by m_
  std::vector<worker_slot> slots_;                        // guarded by m_ (written by the monitor)
  std::size_t alive_ = 0;                                 // guarded by m_
  /// Attempts whose claim the monitor must see at once (time limit or an
  /// observer's task_started): id -> time limit (0: none). guarded by m_
  std::unordered_map<std::uint64_t, std::chrono::milliseconds> watched_;
  std::deque<owned_message> backlog_;                      // guarded by m_
  /// Outcomes of the inputs a progress batch has finished so far, by id; they
  /// become the attempt's value (also when it times out or its worker dies).
  std::unordered_map<std::uint64_t, batch_partial> partials_;  // guarded by m_
  std::deque<steady::time_point> start_failures_;         // guarded by m_
  pool_stats counters_;  // guarded by m_: the worker counters only
  std::atomic<std::size_t> pushers_waiting_{0};  ///< callers blocked in push() for room

  bool fault_checked_ = false;  // monitor thread only: the injected-fault point was passed

  std::thread monitor_;
};

}  // namespace procpool::detail
