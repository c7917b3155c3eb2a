// procpool::pool: the supervisor of a set of workers (processes or threads).
//
// Lifecycle
// ---------
//   running --close()--> closing --(queue drained, workers exited)--> joined by join()
//   running/closing --terminate()--> terminated (queued tags cancelled, running
//                                    tasks stopped: SIGTERM, grace, SIGKILL)
//   running --(start failures past the restart limit)--> failed (queued tags
//                                    cancelled, submits refused with spawn_failed)
// Workers start lazily: a submit starts one only when no idle worker exists and
// fewer than options::workers are alive. Every accepted tag ends in exactly one
// terminal state (done, failed, timed_out, crashed, cancelled), reported once: to
// its handle, to its callbacks, and to result()/results().
// The destructor calls terminate() unless the pool was already joined or
// terminated, then waits for its workers; it never throws.
//
//   procpool::pool pool({.mode = procpool::mode::process, .workers = 4});
//   auto h = pool.submit("t1", "square", 7);     // a registered task, see PROCPOOL_TASK
//   int v = h.get();                               // 49
//   auto all = pool.map("square", std::vector<int>{1, 2, 3});
//   pool.close();
//   pool.join();
#pragma once

#include <procpool/shared/error.hpp>
#include <procpool/shared/result.hpp>
#include <procpool/shared/shared_state.hpp>
#include <procpool/supervisor/map_codec.hpp>
#include <procpool/supervisor/options.hpp>
#include <procpool/supervisor/pool_stats.hpp>
#include <procpool/supervisor/task_handle.hpp>
#include <procpool/supervisor/typed_checks.hpp>
#include <procpool/supervisor/typed_handle.hpp>
#include <procpool/worker/typed_task.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace procpool {

namespace detail {
class pool_front;
class shared_state_arena;
struct completion_channel;
}  // namespace detail

/// Called on the pool's callback thread (never inside a worker) once a tag is
/// terminal: on_done for `done`, on_error for every other terminal state. An
/// exception thrown by a callback is reported on stderr and counted in
/// pool_stats::callback_errors. A callback may submit; it must not join() or wait
/// on its own task.
using callback = std::function<void(const procpool::result&)>;

class pool;

/// The lazy, completion-ordered sequence of pool::imap_unordered. Move-only.
class unordered_results {
 public:
  unordered_results(unordered_results&&) noexcept;
  unordered_results& operator=(unordered_results&&) noexcept;
  unordered_results(const unordered_results&) = delete;
  unordered_results& operator=(const unordered_results&) = delete;
  ~unordered_results();

  /// Blocks for the next finished task; nullopt once every input was yielded.
  /// The result's tag is the input's position ("0", "1", ...). Each input is
  /// yielded exactly once, failed ones included (check result::ok()).
  [[nodiscard]] std::optional<procpool::result> next();

 private:
  friend class pool;
  unordered_results(pool& p, std::string task, std::function<std::optional<nlohmann::json>()> src,
                    std::size_t window);
  pool* pool_;
  std::string task_;
  std::function<std::optional<nlohmann::json>()> source_;
  std::size_t window_;
  std::size_t next_index_ = 0;
  std::size_t in_flight_ = 0;
  bool exhausted_ = false;
  std::shared_ptr<detail::completion_channel> channel_;
};

class pool {
 public:
  /// Validates the options (errc::invalid_argument naming the bad field,
  /// errc::unknown_task for an unknown initializer) and sets up the shared
  /// memory. Starts no worker.
  explicit pool(options opts = {});
  ~pool();
  pool(const pool&) = delete;
  pool& operator=(const pool&) = delete;
  pool(pool&&) = delete;
  pool& operator=(pool&&) = delete;

  /// Queues `task` with `args` under `tag`; blocks while the queue is full.
  /// Thread-safe. Refusals (procpool::error): closed, duplicate_tag (the tag is
  /// still held: take() it to reuse the name), unknown_task, bad_arguments,
  /// too_large, invalid_argument (empty tag), spawn_failed (the pool failed).
  task_handle submit(std::string tag, std::string_view task, nlohmann::json args = nullptr,
                     callback on_done = {}, callback on_error = {});
  /// As submit, with this task's own time limit and retries.
  task_handle submit(std::string tag, std::string_view task, nlohmann::json args,
                     const task_options& per_task, callback on_done = {}, callback on_error = {});
  /// As submit, but refuses with errc::full instead of blocking.
  task_handle try_submit(std::string tag, std::string_view task, nlohmann::json args = nullptr,
                         callback on_done = {}, callback on_error = {});
  /// As try_submit, reporting every refusal through `ec` (the handle is empty then).
  task_handle try_submit(std::string tag, std::string_view task, nlohmann::json args,
                         std::error_code& ec) noexcept;
  /// As submit, but blocks at most `timeout` for queue space (errc::full after it).
  task_handle submit_for(std::chrono::milliseconds timeout, std::string tag,
                         std::string_view task, nlohmann::json args = nullptr,
                         callback on_done = {}, callback on_error = {});
  task_handle submit_for(std::chrono::milliseconds timeout, std::string tag,
                         std::string_view task, nlohmann::json args, const task_options& per_task,
                         callback on_done = {}, callback on_error = {});

  /// submit(...).get(): blocks for the value, throws task_error if not done.
  /// Keeps nothing: once it returns the tag is free again, whatever
  /// options::result_retention says.
  nlohmann::json apply(std::string tag, std::string_view task, nlohmann::json args = nullptr);

  /// Runs `task` once per input (each input is the whole argument value, as for
  /// submit) and returns the values in input order. Blocks. Every input is
  /// checked before any runs (a bad one refuses the call). Inputs travel in
  /// chunks of `chunksize` (0: about four chunks per worker): one message and one
  /// result per chunk, so a chunk's inputs share a worker, and a worker that
  /// dies fails its whole chunk. Throws the first failure in input order as
  /// task_error (tag: the input's position), after every chunk has finished.
  /// Untagged: these tasks do not enter the result map.
  std::vector<nlohmann::json> map(std::string_view task, const std::vector<nlohmann::json>& inputs,
                                  std::size_t chunksize = 0);
  template <class Range>
  std::vector<nlohmann::json> map(std::string_view task, const Range& inputs, std::size_t chunksize = 0) {
    std::vector<nlohmann::json> v;
    for (const auto& x : inputs) v.emplace_back(x);
    return map(task, v, chunksize);
  }
  /// As map, but each input is the positional argument array (f(*args)).
  std::vector<nlohmann::json> starmap(std::string_view task,
                                      const std::vector<nlohmann::json>& arg_lists,
                                      std::size_t chunksize = 0);

  /// Runs `task` over [first, last) reading the input lazily, at most `window`
  /// tasks in flight (0: twice the worker cap), yielding in completion order.
  template <class It>
  unordered_results imap_unordered(std::string_view task, It first, It last,
                                   std::size_t window = 0) {
    auto src = [first, last]() mutable -> std::optional<nlohmann::json> {
      if (first == last) return std::nullopt;
      nlohmann::json j = *first;
      ++first;
      return j;
    };
    return imap_unordered_from(task, std::move(src), window);
  }
  unordered_results imap_unordered_from(std::string_view task,
                                        std::function<std::optional<nlohmann::json>()> source,
                                        std::size_t window = 0);

  // ---- typed calls ------------------------------------------------------------
  // The task as a function registered with PROCPOOL_TASK or its token
  // (name##_task), C++ arguments and results; a wrong argument count or type is
  // a compile-time error. Defined in <procpool/supervisor/typed.hpp>, which says
  // how they map onto the calls above (same refusals and failure semantics).

  /// submit(tag, name, args): the handle's get() returns the task's type.
  template <typed_task_ref Task, class... Args>
  typed_handle<detail::typed_result_t<Task>> submit(std::string tag, Task&& task, Args&&... args);
  /// apply(tag, name, args) as the task's type.
  template <typed_task_ref Task, class... Args>
  detail::typed_result_t<Task> apply(std::string tag, Task&& task, Args&&... args);
  /// map(name, inputs) for a one-parameter task: values as the task's type, in
  /// input order (nothing for a void task); a failure throws as map does.
  template <typed_task_ref Task, class T>
  detail::typed_map_result_t<Task> map(Task&& task, const std::vector<T>& inputs,
                                       std::size_t chunksize = 0);

  /// Blocks until `tag` is terminal and returns its outcome (the entry stays).
  /// errc::unknown_tag if the pool does not hold it.
  procpool::result result(std::string_view tag);
  /// Blocks until `tag` is terminal, removes it from the result map, returns it.
  procpool::result take(std::string_view tag);
  /// Blocks until every tag submitted so far is terminal; all held entries by tag.
  std::map<std::string, procpool::result> results();

  /// Stops intake; queued tasks still run, then workers exit. Idempotent.
  void close();
  /// Drops every task still queued (not yet on a worker): each ends cancelled
  /// ("dropped from the queue by cancel_queued()"), reported once as always.
  /// Running tasks go on; intake stays as it is (close() first for a soft
  /// stop: stop taking work, let what runs finish). Non-blocking, thread-safe.
  /// Returns how many tasks were dropped (a map chunk counts once).
  std::size_t cancel_queued();
  /// Blocks until every worker has exited and every callback has run.
  /// errc::not_closed before close() or terminate(); errc::invalid_argument from
  /// a callback thread.
  void join();
  /// Stops now: queued tags end cancelled, running tasks are asked to stop, then
  /// (process mode) SIGTERM, then SIGKILL after options::terminate_grace; those
  /// tags end cancelled unless they finished first. Returns within the grace plus
  /// a small constant. Idempotent. In thread mode a task that ignores
  /// stop_requested() keeps its thread until it returns (the destructor waits).
  void terminate();
  /// As terminate(), with this grace instead of options::terminate_grace.
  void terminate(std::chrono::milliseconds grace);

  /// A consistent snapshot of the counters. Non-blocking, thread-safe.
  [[nodiscard]] pool_stats stats() const;
  [[nodiscard]] const options& config() const noexcept;

  // ---- shared state -----------------------------------------------------------
  // Objects every task can reach by name (ctx.array<T>(name), ctx.dict(name)...),
  // in the pool's shared-state arena (options::shared_state_bytes); see
  // <procpool/shared/shared_state.hpp>. Capacities are fixed at creation. Thread-
  // safe; callable any time, also after workers started (they see new objects).
  // Throw procpool::error: invalid_argument (empty or over-63-byte name, name in
  // use), full (arena or its 256-object directory full; the message gives the
  // sizes). Objects live as long as the pool.

  /// multiprocessing.Array: `n` elements of trivially copyable T, each `value`.
  template <class T>
  shared_array<T> make_array(std::string_view name, std::size_t n, const T& value = T{}) {
    return shared_array<T>::create(shared_state(), name, n, value);
  }
  /// multiprocessing.Array('i', [11, 22]): make_array<int>("a", {11, 22}).
  template <class T>
  shared_array<T> make_array(std::string_view name, std::initializer_list<T> values) {
    return shared_array<T>::create(shared_state(), name, values);
  }
  template <class T>
  shared_array<T> make_array(std::string_view name, std::span<const T> values) {
    return shared_array<T>::create(shared_state(), name, values);
  }
  /// Manager().dict(): up to `capacity` entries of at most `max_entry_bytes`
  /// (key + MessagePack value) each.
  shared_dict make_dict(std::string_view name, std::size_t capacity,
                        std::size_t max_entry_bytes = shared_dict::default_max_entry_bytes);
  /// queue.Queue(maxsize) (<= 0: bounded by `storage_bytes` only).
  shared_queue make_queue(std::string_view name, std::int64_t maxsize = 0,
                          std::size_t storage_bytes = shared_queue::default_storage_bytes);
  procpool::event make_event(std::string_view name);
  procpool::lock make_lock(std::string_view name);
  procpool::rlock make_rlock(std::string_view name);

  /// The supervisor's side of ctx.array<T>(name) and friends: opens by name.
  /// Non-blocking; procpool::error(invalid_argument) if missing or of another kind.
  template <class T>
  [[nodiscard]] shared_array<T> array(std::string_view name) {
    return shared_array<T>::open(shared_state(), name);
  }
  [[nodiscard]] shared_dict dict(std::string_view name);
  [[nodiscard]] shared_queue queue(std::string_view name);
  [[nodiscard]] procpool::event event(std::string_view name);
  [[nodiscard]] procpool::lock lock(std::string_view name);
  [[nodiscard]] procpool::rlock rlock(std::string_view name);

 private:
  friend class unordered_results;
  /// The map engine over the caller's codec: the typed map (typed.hpp).
  void map_with(std::string_view task, detail::map_codec& codec, std::size_t chunksize);
  /// Throws procpool::error(invalid_argument) with options::backend = mpi:
  /// shared-state objects are node-local, so that backend refuses them.
  [[nodiscard]] detail::shared_state_arena& shared_state() const;
  std::shared_ptr<detail::pool_front> impl_;
};

}  // namespace procpool

// The typed calls' definitions (they need the whole class).
#include <procpool/supervisor/typed.hpp>
