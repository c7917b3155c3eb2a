// The supervisor's record of one submitted task, shared by its handle, the
// result map and the pool.
#pragma once

#include <procpool/shared/result.hpp>
#include <procpool/supervisor/pool.hpp>

#include <atomic>
#include <chrono>
#include <vector>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

namespace procpool::detail {

class pool_impl;

/// Where imap_unordered collects finished tasks, in completion order.
struct completion_channel {
  std::mutex m;
  std::condition_variable cv;
  std::deque<procpool::result> finished;  // guarded by m
};

struct task_record {
  std::string tag;
  std::string task;
  std::uint64_t id = 0;
  bool keyed = true;  ///< in the result map (submit/apply) or not (map, imap)
  std::uint32_t flags = 0;  ///< message_flags (message_batch for a map chunk)
  std::size_t items = 1;    ///< inputs this task carries (a map chunk: many)
  callback on_done;
  callback on_error;
  std::shared_ptr<completion_channel> channel;
  std::weak_ptr<pool_impl> pool;
  std::atomic<bool> accepted{false};  ///< pushed into the queue
  std::chrono::milliseconds timeout{0};  ///< time limit of each attempt (0: none)

  // Retries; guarded by pool_impl::m_.
  int retries_left = 0;
  std::uint32_t attempt = 1;              ///< the attempt now queued or running
  std::vector<std::string> attempt_errors;  ///< why earlier attempts ended
  std::vector<std::uint8_t> payload;      ///< kept to push again (only with retries)

  mutable std::mutex m;
  mutable std::condition_variable cv;
  procpool::result res;  ///< guarded by m
  bool terminal = false;  ///< guarded by m: the terminal state is decided
  bool ready = false;     ///< guarded by m: terminal, and callbacks have run

  [[nodiscard]] bool has_callbacks() const noexcept {
    return static_cast<bool>(on_done) || static_cast<bool>(on_error);
  }
};

}  // namespace procpool::detail
