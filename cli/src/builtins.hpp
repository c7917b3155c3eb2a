// The built-in tasks of the command (exec, sleep, primes, echo, sha256), their
// descriptions for `procpool tasks`. A line's "args" reach every task, these
// included, by the library's rule (procpool::detail::checked_positional).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace procpool::cli::detail {

struct task_info {
  std::string name;
  std::string args;         ///< the argument shape, for people
  std::string description;  ///< one line
  bool builtin = false;
  std::size_t arity = 0;
  std::vector<std::string> params;  ///< the parameter types ("std::vector<int>")
};

/// Registers the built-in tasks that the program has not registered itself
/// (a PROCPOOL_TASK of the same name wins). Idempotent and thread-safe; call it
/// before the first pool is created.
void register_builtin_tasks();

/// True when `task` is our built-in of that name (not the program's own task).
[[nodiscard]] bool is_builtin(std::string_view task) noexcept;

/// Every registered task, sorted by name, built-ins with their descriptions.
[[nodiscard]] std::vector<task_info> list_tasks();

}  // namespace procpool::cli::detail
