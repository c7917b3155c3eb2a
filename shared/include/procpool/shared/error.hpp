// procpool error vocabulary: one error_code category, one exception type, and
// task_error for failures that happened inside a task.
#pragma once

#include <procpool/shared/task_state.hpp>

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>
#include <system_error>

namespace procpool {

/// Every reason procpool refuses a call or a task ends badly.
enum class errc {
  // Refusals at the call (nothing was accepted).
  closed = 1,        ///< submit after close() or terminate()
  duplicate_tag,     ///< the tag is still in the result map
  unknown_task,      ///< no task registered under that name
  too_large,         ///< encoded payload over options::max_payload_bytes
  full,              ///< the queue is full (try_submit, submit with a timeout)
  timeout,           ///< a bounded wait ran out
  invalid_argument,  ///< a bad option or parameter (workers <= 0, empty tag...)
  bad_arguments,     ///< task arguments do not convert to the task's parameters
  not_closed,        ///< join() before close() or terminate()
  unknown_tag,       ///< result()/take() of a tag the pool does not hold
  // Terminal states of a task, as errors (task_handle::get rethrows them).
  task_failed,     ///< the task threw
  worker_crashed,  ///< the worker died while running the task
  task_timeout,    ///< the task ran past its time limit
  cancelled,       ///< terminate() dropped or stopped the task
  // Pool-level failures.
  spawn_failed,      ///< a worker could not be started (restart limit reached)
  segment_poisoned,  ///< a shared structure could not be repaired
  payload_invalid,   ///< an encoded payload did not decode
  system,            ///< an operating-system call failed (see the message)
};

[[nodiscard]] const std::error_category& category() noexcept;

[[nodiscard]] inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

/// The exception every throwing procpool call uses. `what()` reads
/// "<where>: <reason>", for example "pool::submit: duplicate tag 'a1'".
class error : public std::system_error {
 public:
  error(errc code, const std::string& where_and_why);
  [[nodiscard]] errc code_value() const noexcept { return static_cast<errc>(code().value()); }
};

/// A task that did not end `done`: carries the tag, the terminal state, and the
/// remote exception type and message (for `failed`) or the cause (crash signal,
/// time limit, cancellation).
class task_error : public error {
 public:
  task_error(std::string tag, task_state state, std::string remote_type,
             std::string remote_message, int worker_pid);
  [[nodiscard]] const std::string& tag() const noexcept { return tag_; }
  [[nodiscard]] task_state state() const noexcept { return state_; }
  [[nodiscard]] const std::string& remote_type() const noexcept { return remote_type_; }
  [[nodiscard]] const std::string& remote_message() const noexcept { return remote_message_; }
  [[nodiscard]] int worker_pid() const noexcept { return worker_pid_; }

 private:
  std::string tag_;
  task_state state_;
  std::string remote_type_;
  std::string remote_message_;
  int worker_pid_;
};

/// Thrown by a task that fails with a structured outcome: the result ends
/// `failed` with `error_code` set to `code` and `value` set to `detail`, so a
/// caller reads fields (an exit code, a signal) instead of parsing the message.
/// what() is the message as given, unchanged.
class task_failure : public std::runtime_error {
 public:
  task_failure(errc code, const std::string& message, nlohmann::json detail = nullptr)
      : std::runtime_error(message), code_(code), detail_(std::move(detail)) {}
  [[nodiscard]] errc code() const noexcept { return code_; }
  [[nodiscard]] const nlohmann::json& detail() const noexcept { return detail_; }

 private:
  errc code_;
  nlohmann::json detail_;
};

/// The errc that a terminal state other than `done` maps to.
[[nodiscard]] errc errc_for(task_state s) noexcept;

}  // namespace procpool

template <>
struct std::is_error_code_enum<procpool::errc> : std::true_type {};
