// The supervisor behind procpool::pool.
//
// Threads: the caller's threads submit and wait; the monitor thread (started
// with the pool, alive as long as it) forks or starts workers, drains their
// result rings, reaps them and enforces terminate()'s grace; the callback
// thread runs on_done/on_error. Workers are forked only by the monitor thread,
// so PR_SET_PDEATHSIG (tied to the forking thread) fires only when the pool goes.
//
// Lock order: m_ -> task_record::m -> completion_channel::m. The shared queue
// lock is never taken while m_ is held, except in stats()/live_state() reads
// that take no other lock while holding it.
#pragma once

#include <procpool/shared/detail/layout.hpp>
#include <procpool/shared/detail/segment.hpp>
#include <procpool/shared/detail/shared_state_arena.hpp>
#include "front/task_record.hpp"
#include "backend/worker_process.hpp"
#include <procpool/supervisor/options.hpp>
#include <procpool/supervisor/pool_stats.hpp>
#include <procpool/supervisor/task_handle.hpp>

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace procpool::detail {

enum class pool_phase { running, closing, terminating, terminated, failed };

/// How submit waits for queue space.
enum class space_policy { block, fail_fast, block_for };

struct submit_request {
  std::string tag;
  std::string_view task;
  nlohmann::json args;
  bool args_are_positional = false;  ///< starmap: args is already the positional array
  callback on_done;
  callback on_error;
  bool keyed = true;
  std::shared_ptr<completion_channel> channel;
  space_policy policy = space_policy::block;
  std::chrono::milliseconds timeout{0};  ///< block_for: how long to wait for space
  task_options per_task;
  std::uint32_t flags = 0;  ///< message_flags
  std::size_t items = 1;    ///< inputs carried (a map chunk carries many)
};

/// A prepared submission: validated and encoded, not yet accepted.
struct prepared_task {
  std::string tag;
  std::string task;
  std::vector<std::uint8_t> payload;
};

class pool_impl : public std::enable_shared_from_this<pool_impl> {
 public:
  explicit pool_impl(options opts);
  ~pool_impl();
  pool_impl(const pool_impl&) = delete;
  pool_impl& operator=(const pool_impl&) = delete;

  /// Starts the monitor and callback threads. Call once, right after construction.
  void start();

  /// Validates and encodes (no lock held). Throws the refusals of pool::submit.
  [[nodiscard]] prepared_task prepare(const submit_request& req) const;
  task_handle submit(submit_request req);
  task_handle submit_prepared(prepared_task p, submit_request req);

  /// pool::map / starmap: validates every input, sends them in chunks of
  /// `chunksize` (0: about four chunks per worker, split further to respect
  /// max_payload_bytes), returns the values in input order or throws the first
  /// failure in input order once every chunk has finished.
  std::vector<nlohmann::json> map(std::string_view task, const std::vector<nlohmann::json>& inputs,
                                  bool positional, std::size_t chunksize);

  procpool::result wait_tag(std::string_view tag, bool remove);
  std::map<std::string, procpool::result> results();
  void close();
  void join();
  void terminate(std::optional<std::chrono::milliseconds> grace = std::nullopt);
  /// The destructor's stop: terminate unless joined, then wait for every worker
  /// and stop the pool's threads. Idempotent, never throws.
  void shutdown() noexcept;

  [[nodiscard]] pool_stats stats() const;
  [[nodiscard]] const options& config() const noexcept { return opts_; }
  /// The shared-state arena (pool::make_* / task_context::array...). Made in the
  /// constructor, before any worker or the fork server exists; lives as long as
  /// this object.
  [[nodiscard]] shared_state_arena& shared_state() const noexcept { return *arena_; }
  /// queued or running, for a task that is not terminal yet.
  [[nodiscard]] task_state live_state(std::uint64_t id) const;

 private:
  struct worker_slot {
    bool used = false;
    pid_t pid = -1;            // process mode
    int pidfd = -1;            // process mode
    bool dead = false;         // process mode: pidfd readable, not reaped yet
    bool killed = false;       // SIGKILL sent
    // Time limits (process and thread mode).
    std::uint64_t watched_id = 0;  // the claim the deadline below belongs to
    std::optional<std::chrono::steady_clock::time_point> deadline;
    std::uint64_t timed_out_id = 0;  // the task this worker was stopped for
    std::optional<std::chrono::steady_clock::time_point> kill_at;
    // spawn: the program must attach to the pool before this instant.
    std::optional<std::chrono::steady_clock::time_point> attach_deadline;
    bool attach_timed_out = false;
    std::shared_ptr<fork_server> server;  // process mode: the server that knows this worker
    std::thread thread;        // thread mode
    std::atomic<int> thread_exit_code{0};
  };

  // --- monitor thread --------------------------------------------------------
  void monitor_loop();
  bool drain_results();                 // returns true if any record was read
  void drain_row(std::uint32_t i);
  void reap_finished_workers();
  void release_slot(std::uint32_t i, const std::optional<int>& exit_code,
                    const std::optional<int>& signal);
  void maybe_spawn();
  void spawn_one(std::uint32_t i);
  void enforce_terminate_deadline();
  /// Stops tasks past their time limit; returns the next instant to look again.
  std::optional<std::chrono::steady_clock::time_point> enforce_time_limits();
  /// Pushes tasks waiting for another attempt; true if some still wait for room.
  bool push_retries();
  /// Queues `rec` for another attempt. Requires: m_ held.
  void requeue_locked(const std::shared_ptr<task_record>& rec);
  [[nodiscard]] bool anything_pending() const;
  [[nodiscard]] worker_config base_config() const;
  /// Counts a start failure; true if it put the pool past its restart limit.
  /// Requires: m_ held.
  [[nodiscard]] bool record_start_failure_locked(const std::string& why);
  /// Moves the pool to `failed`: queued tags cancelled, workers told to stop.
  void fail_pool();

  // --- callbacks thread ------------------------------------------------------
  void callback_loop();

  // --- shared helpers --------------------------------------------------------
  /// Gives a task its terminal state once (later calls are ignored). Requires:
  /// m_ held.
  void complete_locked(const std::shared_ptr<task_record>& rec, procpool::result r);
  void complete_by_id_locked(std::uint64_t id, procpool::result r);
  /// Drops every queued message; each ends cancelled with `why`.
  void cancel_queued(const std::string& why);
  void wake_monitor() const noexcept;
  [[nodiscard]] bool spawn_wanted_locked() const;
  [[nodiscard]] std::size_t idle_or_starting_locked() const;
  [[nodiscard]] bool quiescent_locked() const;

  options opts_;
  segment seg_;
  segment_header* hdr_ = nullptr;
  std::unique_ptr<shared_state_arena> arena_;
  int wake_fd_ = -1;
  nlohmann::json init_args_;  // the initializer's positional arguments
  /// Process mode: the fork server (start_method::fork_server: it forks the
  /// workers) or guardian (fork, spawn: it kills the workers' process groups if
  /// the supervisor dies). Replaced when it dies; each worker keeps the one
  /// that knows it (slot.server), for its exit status.
  std::shared_ptr<fork_server> server_;

  mutable std::mutex m_;
  std::condition_variable cv_;     // join/terminate/shutdown waiters
  std::condition_variable cb_cv_;  // the callback thread: work queued, or stop
  pool_phase phase_ = pool_phase::running;  // guarded by m_
  bool joined_ = false;                      // guarded by m_
  bool stop_threads_ = false;                // guarded by m_
  std::string failure_;                      // guarded by m_: why the pool failed
  std::optional<std::chrono::steady_clock::time_point> terminate_deadline_;  // guarded by m_
  std::unordered_map<std::string, std::shared_ptr<task_record>> by_tag_;     // guarded by m_
  std::unordered_map<std::uint64_t, std::shared_ptr<task_record>> inflight_;  // guarded by m_
  std::uint64_t next_id_ = 1;                                                 // guarded by m_
  std::vector<worker_slot> slots_;                                            // guarded by m_
  std::size_t alive_ = 0;                                                     // guarded by m_
  std::deque<std::chrono::steady_clock::time_point> start_failures_;         // guarded by m_
  pool_stats counters_;                                                       // guarded by m_
  std::deque<std::shared_ptr<task_record>> callback_queue_;                  // guarded by m_
  std::deque<std::shared_ptr<task_record>> retry_backlog_;                   // guarded by m_
  std::size_t timed_inflight_ = 0;  // guarded by m_: in-flight tasks with a time limit
  bool callback_running_ = false;                                             // guarded by m_

  std::thread monitor_;
  std::thread callbacks_;
  std::thread::id callbacks_id_;
};

}  // namespace procpool::detail
