// procpool::result: what a tag ended with.
#pragma once

#include <procpool/shared/error.hpp>
#include <procpool/shared/task_state.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace procpool {

/// The outcome of one tag. Before a tag is terminal only `tag` and `state`
/// (queued or running) mean anything.
struct result {
  std::string tag;
  task_state state = task_state::queued;
  /// The task's return value (null for void) when done; for a task that threw
  /// procpool::task_failure, its detail.
  nlohmann::json value;
  std::string error_type;      ///< demangled exception type, or procpool's cause
  std::string error_message;   ///< what() of the exception, or the cause in words
  /// Why it did not end done, as a code: the one a task_failure or
  /// procpool::error thrown by the task carried, else errc_for(state)
  /// (task_failed, worker_crashed, task_timeout, cancelled). Unset when done.
  std::optional<errc> error_code;
  std::optional<int> exit_code;  ///< the worker's exit code, when it exited (crashed)
  std::optional<int> signal;     ///< the signal that killed the worker (crashed)
  int attempts = 0;              ///< how many times the task was started
  /// Why each earlier attempt did not end done ("crashed: worker 12 was killed
  /// by signal 9 (SIGKILL)"), oldest first; empty without retries.
  std::vector<std::string> attempt_errors;
  int worker_pid = 0;            ///< the process that ran it (the pool's pid in thread mode)
  std::chrono::system_clock::time_point started_at{};
  std::chrono::system_clock::time_point finished_at{};
  int rank = 0;                  ///< the MPI rank that ran it (0 outside the MPI backend)
  std::string host;              ///< the host that ran it (MPI backend only; else empty)

  [[nodiscard]] bool ok() const noexcept { return state == task_state::done; }
};

/// JSON form of a result, as the command line prints it.
void to_json(nlohmann::json& j, const result& r);

}  // namespace procpool
