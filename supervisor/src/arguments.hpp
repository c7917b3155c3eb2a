// Arguments and options as the supervisor checks them, shared by the front
// (submissions) and the local backend (the initializer).
#pragma once

#include <procpool/shared/error.hpp>
#include <procpool/supervisor/options.hpp>
#include <procpool/worker/task.hpp>

#include <nlohmann/json.hpp>

#include <string>
#include <utility>

namespace procpool::detail {

/// The checked positional argument array for `args` (checked_positional: the
/// rule of PROCPOOL_TASK; an rvalue `args` is moved into it), refusals prefixed with `where()`, which is evaluated
/// only when refusing.
template <class Args, class Where>
nlohmann::json positional_args(const task_entry& e, Args&& args, Where&& where) {
  try {
    return checked_positional(e, std::forward<Args>(args));
  } catch (const error& ex) {
    throw error(errc::bad_arguments, where() + ": " + ex.what());
  }
}

/// Refuses options a pool cannot run with: procpool::error naming the field
/// (invalid_argument, unknown_task, bad_arguments, spawn_failed).
void validate_options(const options& opts);

}  // namespace procpool::detail
