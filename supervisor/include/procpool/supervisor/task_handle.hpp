// procpool::task_handle: the caller's view of one submitted task.
#pragma once

#include <procpool/shared/error.hpp>
#include <procpool/shared/result.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace procpool {

class pool;

namespace detail {
struct task_record;
}  // namespace detail

/// A shared, copyable reference to one submitted task. It stays valid after the
/// pool is destroyed (the pool gives every task a terminal state before it goes).
/// All members are thread-safe. A default-constructed handle is empty: every
/// member but valid() throws errc::invalid_argument.
class task_handle {
 public:
  task_handle() = default;
  explicit task_handle(std::shared_ptr<detail::task_record> record) noexcept
      : record_(std::move(record)) {}
  task_handle(const task_handle&) = default;
  task_handle(task_handle&&) noexcept = default;
  /// Lets go of the task held before (as the destructor does).
  task_handle& operator=(task_handle other) noexcept {
    record_.swap(other.record_);
    return *this;
  }
  /// The last handle of a finished task held under keep_until_taken lets the
  /// pool keep its outcome alone, compact, until result()/take() asks.
  ~task_handle();

  [[nodiscard]] bool valid() const noexcept { return record_ != nullptr; }
  [[nodiscard]] const std::string& tag() const;
  /// queued, running, or the terminal state. Non-blocking.
  [[nodiscard]] task_state state() const;
  /// True once the state is terminal (and the callbacks, if any, have run).
  [[nodiscard]] bool ready() const;
  /// Blocks until ready(). Do not call from the task's own callback.
  void wait() const;
  /// Blocks until ready() or the timeout; returns ready().
  [[nodiscard]] bool wait_for(std::chrono::milliseconds timeout) const;
  /// Blocks until ready(); the value when done, otherwise throws task_error
  /// carrying the state and the remote exception type and message.
  [[nodiscard]] nlohmann::json get() const;
  /// Blocks until ready(); the whole outcome, never throws for a task failure.
  [[nodiscard]] procpool::result result() const;

 private:
  friend class pool;
  const detail::task_record& record() const;
  std::shared_ptr<detail::task_record> record_;
};

}  // namespace procpool
