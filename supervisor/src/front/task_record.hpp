// The front's record of one submitted task, shared by its handle, the result
// store and the front.
#pragma once

#include <procpool/shared/result.hpp>
#include <procpool/supervisor/pool.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace procpool::detail {

class pool_front;

/// Where imap_unordered collects finished tasks, in completion order.
struct completion_channel {
  std::mutex m;
  std::condition_variable cv;
  std::deque<procpool::result> finished;  // guarded by m
};

struct task_record {
  // Set before the task is accepted, constant afterwards.
  std::string tag;
  std::string task;
  bool keyed = true;         ///< in the result store (submit/apply) or not (map, imap)
  bool drop_on_delivery = false;  ///< retention::drop_once_delivered
  bool has_callbacks = false;
  std::uint32_t flags = 0;   ///< message_flags (message_batch for a map chunk)
  std::size_t items = 1;     ///< inputs this task carries (a map chunk: many)
  std::chrono::milliseconds timeout{0};  ///< time limit of each attempt (0: none)
  std::shared_ptr<completion_channel> channel;
  std::weak_ptr<pool_front> pool;

  // Guarded by the front's mutex.
  std::uint64_t id = 0;  ///< the message id of the attempt now queued or running
  callback on_done;      ///< released once run (or when the task ends without them)
  callback on_error;
  int retries_left = 0;
  std::uint32_t attempt = 1;                ///< the attempt now queued or running
  std::vector<std::string> attempt_errors;  ///< why earlier attempts ended
  std::vector<std::uint8_t> payload;        ///< kept to send again (only with retries)

  /// Guarded by the result store's lock: the tag left the store (taken or
  /// delivered), so a publish that comes after must not bring it back.
  bool left_store = false;

  mutable std::mutex m;
  mutable std::condition_variable cv;
  procpool::result res;   ///< guarded by m
  bool terminal = false;  ///< guarded by m: the terminal state is decided
  bool ready = false;     ///< guarded by m: terminal, and callbacks have run
};

/// True on a pool's callback thread (while it runs callbacks).
[[nodiscard]] bool on_callback_thread() noexcept;

/// Blocks until `rec` is ready and returns its outcome. On a callback thread
/// it waits only until the outcome is decided: the callbacks that would make
/// it ready may be queued behind the one waiting, on the same thread.
[[nodiscard]] inline procpool::result await_result(const task_record& rec) {
  const bool on_cb = on_callback_thread();
  std::unique_lock<std::mutex> lock(rec.m);
  rec.cv.wait(lock, [&] { return rec.ready || (on_cb && rec.terminal); });
  return rec.res;
}

/// Blocks as await_result does, without copying the outcome.
inline void await_ready(const task_record& rec) {
  const bool on_cb = on_callback_thread();
  std::unique_lock<std::mutex> lock(rec.m);
  rec.cv.wait(lock, [&] { return rec.ready || (on_cb && rec.terminal); });
}

/// await_result for a caller that dropped `rec` from every map: the outcome is
/// moved out when `rec` is the last reference (no handle, callback or map can
/// read it again), so a large value is not copied; copied otherwise.
[[nodiscard]] inline procpool::result await_result_last(std::shared_ptr<task_record>&& rec) {
  procpool::result r = [&] {
    const bool on_cb = on_callback_thread();
    std::unique_lock<std::mutex> lock(rec->m);
    rec->cv.wait(lock, [&] { return rec->ready || (on_cb && rec->terminal); });
    // Records are shared only by copying a shared_ptr someone holds (never
    // through a weak_ptr): a count of 1 cannot grow again.
    if (rec.use_count() == 1) return std::move(rec->res);
    return rec->res;
  }();
  rec.reset();
  return r;
}

}  // namespace procpool::detail
