// The built-in tasks of the command (exec, sleep, primes, echo, sha256), their
// descriptions for `procpool tasks`, and how a line's "args" reach each task.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace procpool::cli::detail {

/// How the "args" member of a task line becomes the task's parameters.
enum class args_rule {
  /// The usual rule: "args" is the array of positional arguments (a single
  /// non-array value is one argument; no "args" is none).
  positional,
  /// The whole positional list is the task's one parameter (exec: the argv).
  whole_list,
  /// "args" exactly as written is the task's one parameter (echo).
  as_written,
};

struct task_info {
  std::string name;
  std::string args;         ///< the argument shape, for people
  std::string description;  ///< one line
  bool builtin = false;
  std::size_t arity = 0;
};

/// Registers the built-in tasks that the program has not registered itself
/// (a PROCPOOL_TASK of the same name wins). Idempotent and thread-safe; call it
/// before the first pool is created.
void register_builtin_tasks();

/// The args rule of `task` (positional unless it is one of our built-ins).
[[nodiscard]] args_rule rule_for(std::string_view task) noexcept;

/// Every registered task, sorted by name, built-ins with their descriptions.
[[nodiscard]] std::vector<task_info> list_tasks();

}  // namespace procpool::cli::detail
