// procpool::shared_queue: a FIFO of JSON items in the pool's shared-state arena,
// with the semantics of Python's queue.Queue (and multiprocessing.JoinableQueue):
// maxsize, blocking and timed put/get, put_nowait/get_nowait, qsize, empty,
// full, task_done, join, clear.
//
// Lifecycle
// ---------
// The supervisor creates it (pool.make_queue("jobs", 100), or
// shared_queue::create on an arena) with a maxsize and a fixed byte storage;
// anyone opens it by name (ctx.queue("jobs") in a task, shared_queue::open).
// A handle is a small copyable pointer into the arena, valid as long as the pool
// lives.
//
//   auto q = ctx.queue("jobs");            // a consumer task
//   for (;;) {
//     nlohmann::json item = q.get();       // blocks until an item is there
//     if (item.is_null()) break;           // a sentinel, as in the seed
//     work(item);
//     q.task_done();
//   }
//   ...
//   q.join();                              // supervisor: until every item is done
//
// Bounds: `maxsize` items (<= 0: no item limit) and `storage_bytes` of ring
// (each item takes its MessagePack size plus 8 bytes, rounded up to 8). put
// waits while either bound is reached; an item that could never fit (over the
// storage) is refused at once with errc::too_large. full() reports the maxsize
// bound only, as in Python.
//
// Errors, Python -> procpool (procpool::error with):
//   queue.Full   -> errc::full     put_nowait / put(block=false) / timed-out put
//   queue.Empty  -> errc::timeout  get_nowait / get(block=false) / timed-out get;
//                                  the message says "queue '<name>' empty"
//   ValueError   -> errc::invalid_argument  task_done() called more times than
//                                  items were put
// try_put / try_get report full / empty by their return value instead.
//
// All members are thread-safe and process-safe; they may block briefly on the
// queue's internal robust lock besides the documented waits. Items are encoded
// before and decoded after that lock is taken.
//
// Crash safety: a process killed at any instruction inside a call leaves the
// queue consistent: the item it was putting (or getting) is either entirely in
// the queue or not at all. The next caller repairs the queue first; if its
// storage does not check out, calls throw errc::segment_poisoned. A process
// killed after its change but before waking blocked callers delays them by at
// most a tenth of a second; it never strands them. A process that
// dies between get() and task_done() leaves its item unfinished: join() then
// waits for it (call task_done() for it yourself, or use join(timeout)).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace procpool {

namespace detail {
class shared_state_arena;
struct queue_header;
}  // namespace detail

class shared_queue {
 public:
  /// The default ring storage: 1 MiB.
  static constexpr std::size_t default_storage_bytes = std::size_t{1} << 20U;

  /// Supervisor: creates `name` holding at most `maxsize` items (<= 0: as many
  /// as `storage_bytes` holds). Throws procpool::error: invalid_argument (bad or
  /// existing name, storage under 64 bytes, called from a worker), full (no room
  /// in the arena; the message gives the sizes).
  static shared_queue create(detail::shared_state_arena& arena, std::string_view name,
                             std::int64_t maxsize = 0,
                             std::size_t storage_bytes = default_storage_bytes);
  /// Anyone: opens `name`. Non-blocking. Throws procpool::error(invalid_argument)
  /// if there is none or it is not a queue.
  static shared_queue open(detail::shared_state_arena& arena, std::string_view name);

  /// Appends `item`. block == false: errc::full at once if there is no room.
  /// Otherwise waits for room, at most `timeout` if given (then errc::full).
  /// errc::too_large if the item can never fit in the storage.
  void put(const nlohmann::json& item, bool block = true,
           std::optional<std::chrono::nanoseconds> timeout = {});
  /// put(item, false).
  void put_nowait(const nlohmann::json& item);
  /// As put, waiting at most `timeout` (zero: not at all); false if no room.
  [[nodiscard]] bool try_put(const nlohmann::json& item,
                             std::chrono::nanoseconds timeout = std::chrono::nanoseconds{0});

  /// Removes and returns the oldest item. block == false: errc::timeout ("queue
  /// 'x' empty") at once if there is none. Otherwise waits, at most `timeout`
  /// if given (then errc::timeout).
  nlohmann::json get(bool block = true, std::optional<std::chrono::nanoseconds> timeout = {});
  /// get(false).
  nlohmann::json get_nowait();
  /// As get, waiting at most `timeout` (zero: not at all); nullopt if empty.
  [[nodiscard]] std::optional<nlohmann::json> try_get(
      std::chrono::nanoseconds timeout = std::chrono::nanoseconds{0});

  /// Items in the queue now (a snapshot; another process may change it at once).
  [[nodiscard]] std::size_t qsize() const;
  [[nodiscard]] bool empty() const;
  /// maxsize > 0 and qsize() >= maxsize (the byte storage is not considered).
  [[nodiscard]] bool full() const;

  /// Marks one item as processed. Throws procpool::error(invalid_argument) if
  /// called more times than items were put (no unfinished item). Wakes join()
  /// when the last unfinished item is done.
  void task_done();
  /// Blocks until every item put has been marked done (task_done() or clear()),
  /// at most `timeout` if given. Returns false on timeout.
  bool join(std::optional<std::chrono::nanoseconds> timeout = {});
  /// Items put and not yet marked done.
  [[nodiscard]] std::size_t unfinished_tasks() const;

  /// Drops every queued item and returns how many. The dropped items count as
  /// done (they will never be processed), so join() does not wait for them:
  /// unlike Python's q.queue.clear(), which would leave join() hanging.
  std::size_t clear();

  [[nodiscard]] std::int64_t maxsize() const noexcept;
  [[nodiscard]] std::size_t storage_bytes() const noexcept;
  [[nodiscard]] std::string_view name() const noexcept { return name_; }

 private:
  shared_queue(detail::queue_header* h, const char* name) noexcept : h_(h), name_(name) {}
  detail::queue_header* h_;
  const char* name_;
};

}  // namespace procpool
