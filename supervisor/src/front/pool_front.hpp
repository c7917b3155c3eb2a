// The front behind procpool::pool: everything a user sees, over one backend.
//
// It owns the lifecycle (close/join/terminate), submission checks, the result
// store, handles, the retry policy, the callback dispatcher, the map engine
// and the observer's task hooks. It never touches a ring, a worker row or a
// pid: tasks go to the backend as messages with an id per attempt, and come
// back through backend_listener.
//
// Lock order: m_ -> result_store's lock -> task_record::m -> the backend's
// locks (the store locks a record only to settle it; nothing calls the store
// while holding a record's lock). The backend calls the listener with none of
// its own locks held.
#pragma once

#include "backend/backend.hpp"
#include "front/callback_dispatcher.hpp"
#include "front/result_store.hpp"
#include "front/task_record.hpp"

#include <procpool/supervisor/map_codec.hpp>
#include <procpool/supervisor/options.hpp>
#include <procpool/supervisor/pool_stats.hpp>
#include <procpool/supervisor/task_handle.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace procpool::detail {

enum class pool_phase { running, closing, terminating, terminated, failed };

struct submit_request {
  std::string tag;
  std::string_view task;
  nlohmann::json args;
  bool args_are_positional = false;  ///< starmap: args is already the positional array
  callback on_done;
  callback on_error;
  bool keyed = true;  ///< enters the result store
  std::shared_ptr<completion_channel> channel;
  space_policy policy = space_policy::block;
  std::chrono::milliseconds timeout{0};  ///< block_for: how long to wait for space
  task_options per_task;
  std::uint32_t flags = 0;  ///< message_flags
  std::size_t items = 1;    ///< inputs carried (a map chunk carries many)
  bool counts_as_submitted = true;  ///< false: inputs sent on again, already counted
};

/// A submission validated and encoded, not yet accepted.
struct prepared_task {
  std::string tag;
  std::string task;
  std::vector<std::uint8_t> payload;
};

class pool_front final : public backend_listener, public std::enable_shared_from_this<pool_front> {
 public:
  /// Validates `opts` and sets up the backend (no worker yet).
  explicit pool_front(options opts);
  ~pool_front() override;
  pool_front(const pool_front&) = delete;
  pool_front& operator=(const pool_front&) = delete;

  /// Starts the backend's and the callback thread. Call once, right after construction.
  void start();

  /// Validates and encodes (no lock held). Throws the refusals of pool::submit.
  [[nodiscard]] prepared_task prepare(submit_request& req) const;
  task_handle submit(submit_request req);
  task_handle submit_prepared(prepared_task p, submit_request req);
  /// submit_prepared for a caller inside the front that keeps the record
  /// itself (map's chunks: their outcome is moved out, not copied).
  std::shared_ptr<task_record> submit_record(prepared_task p, submit_request req);

  /// pool::map / starmap (map_engine.cpp).
  std::vector<nlohmann::json> map(std::string_view task, const std::vector<nlohmann::json>& inputs,
                                  bool positional, std::size_t chunksize);
  /// The typed map: the same engine over the caller's codec (map_engine.cpp).
  void map_with(std::string_view task, map_codec& codec, std::size_t chunksize);

  procpool::result wait_tag(std::string_view tag, bool remove);
  std::map<std::string, procpool::result> results();
  /// A handle returned the outcome of `rec` (drop_once_delivered forgets it).
  void delivered(const std::shared_ptr<task_record>& rec);
  /// Forgets `rec` whatever the retention (apply() never retains).
  void forget(const std::shared_ptr<task_record>& rec);
  /// The last handle of `rec` goes away (result_store::let_go).
  void let_go(std::shared_ptr<task_record>&& rec) noexcept;

  void close();
  /// pool::cancel_queued: every queued tag ends cancelled; running ones go on.
  std::size_t cancel_queued();
  void join();
  void terminate(std::optional<std::chrono::milliseconds> grace = std::nullopt);
  /// The destructor's stop: terminate unless joined, then wait for every worker
  /// and stop the pool's threads. Idempotent, never throws.
  void shutdown() noexcept;

  [[nodiscard]] pool_stats stats() const;
  [[nodiscard]] const options& config() const noexcept { return opts_; }
  [[nodiscard]] shared_state_arena& shared_state() const { return backend_->shared_state(); }
  /// queued or running, for a task that is not terminal yet.
  [[nodiscard]] task_state live_state(const task_record& rec) const;

  // ---- backend_listener ------------------------------------------------------
  void tasks_started(std::span<const started_task> started) noexcept override;
  void tasks_finished(std::vector<finished_task>& finished) override;
  void backend_failed(const std::string& why, std::vector<std::uint64_t> dropped) override;
  void workers_changed() noexcept override;

 private:
  /// Sends the codec's inputs in chunks and waits for every value (map_engine.cpp).
  void run_map(const task_entry& e, map_codec& codec, std::size_t chunksize, const std::string& where);
  /// Settles one attempt's outcome: a retry (returned, to push with no lock
  /// held) or the tag's terminal state. Requires: m_ held.
  std::optional<task_message> settle_locked(const std::shared_ptr<task_record>& rec, procpool::result r);
  /// Gives `rec` its terminal state once. Requires: m_ held.
  void finish_locked(const std::shared_ptr<task_record>& rec, procpool::result r);
  void count_locked(const task_record& rec);
  /// Sends the attempts in `retries`; those the backend refuses end cancelled.
  void push_retries(std::vector<task_message>& retries);
  void cancel_ids(const std::vector<std::uint64_t>& ids, const std::string& why);
  [[nodiscard]] bool quiescent_locked() const;
  [[nodiscard]] task_message message_for(const task_record& rec) const;
  [[noreturn]] void refuse(const std::shared_ptr<task_record>& rec, errc code, const std::string& why);
  /// Hands the first attempt to the backend; refuses (throws) if it does not take it.
  void push_or_refuse(const std::shared_ptr<task_record>& rec, std::span<const std::uint8_t> payload,
                      const submit_request& req, const char* where, const deadline& until);

  const options opts_;
  std::unique_ptr<backend> backend_;
  result_store store_;

  mutable std::mutex m_;
  std::condition_variable cv_;  // join/terminate/shutdown waiters
  callback_dispatcher callbacks_;
  pool_phase phase_ = pool_phase::running;  // guarded by m_
  bool joined_ = false;                      // guarded by m_
  bool stopped_threads_ = false;             // guarded by m_
  std::string failure_;                      // guarded by m_: why the pool failed
  /// The attempt now queued or running of every unfinished task, by message id.
  std::unordered_map<std::uint64_t, std::shared_ptr<task_record>> inflight_;  // guarded by m_
  std::uint64_t next_id_ = 1;                                                 // guarded by m_
  pool_stats counters_;  // guarded by m_: the task counters only
  std::atomic<std::size_t> submitted_{0};  ///< inputs accepted (pool_stats::submitted)
};

}  // namespace procpool::detail
