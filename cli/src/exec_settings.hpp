// The command's settings of the `exec` task (--max-output, --results) in every
// worker, whichever way it started. A forked worker inherits them from the
// command line process, but a spawned one (an MPI agent rank's workers, which
// start as fresh programs) does not: the pool's initializer carries them
// instead, a task run once by each worker before its first job, and sent to
// every rank with the pool's options.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace procpool::cli::detail {

/// The initializer's task name. Registered with the built-in tasks; not
/// listed by `procpool tasks` (it is not a job).
inline constexpr std::string_view exec_settings_task = "procpool.exec_settings";

/// The initializer's arguments for these settings.
[[nodiscard]] nlohmann::json exec_settings_args(std::size_t max_output, const std::string& results_dir);

/// Registers exec_settings_task (once; a program's own task of that name wins).
void register_exec_settings_task();

}  // namespace procpool::cli::detail
