// Arguments and options as the supervisor checks them, shared by the front
// (submissions) and the local backend (the initializer).
#pragma once

#include <procpool/shared/error.hpp>
#include <procpool/supervisor/options.hpp>
#include <procpool/worker/task.hpp>

#include <nlohmann/json.hpp>

#include <string>

namespace procpool::detail {

/// The positional argument array for `args` (see PROCPOOL_TASK): a one-
/// parameter task takes `args` itself. `where()` names the call in an error;
/// it is evaluated only when refusing.
template <class Where>
nlohmann::json positional_args(const task_entry& e, const nlohmann::json& args, Where&& where) {
  if (e.arity == 1) {
    nlohmann::json a = nlohmann::json::array();
    a.push_back(args);
    return a;
  }
  if (e.arity == 0 && (args.is_null() || (args.is_array() && args.empty()))) {
    return nlohmann::json::array();
  }
  if (!args.is_array()) {
    throw error(errc::bad_arguments, where() + ": task '" + e.name + "' takes " + std::to_string(e.arity) +
                                         " arguments: pass them as a JSON array");
  }
  return args;
}

/// Refuses options a pool cannot run with: procpool::error naming the field
/// (invalid_argument, unknown_task, bad_arguments, spawn_failed).
void validate_options(const options& opts);

}  // namespace procpool::detail
