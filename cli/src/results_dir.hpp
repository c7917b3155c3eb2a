// --results DIR: one directory per job, DIR/<tag>/ with `stdout`, `stderr`
// (exec tasks: the command writes straight into them, so output of any size is
// kept, and nothing of it is held in memory) and `result.json` (the job's result
// line, written when the job ends, by rename so that it is never half there).
//
// A tag becomes one path component that can neither leave DIR nor collide with
// another tag's: bytes other than [A-Za-z0-9_-] and '.' become %XX (upper-case
// hex), '%' included, and so does a leading '.', so "." and ".." cannot occur.
// A component longer than 200 bytes keeps its first 128 bytes and ends in
// "%%" + the SHA-256 of the whole tag ("%%" never occurs otherwise).
//
// The directory is process-wide, set by the command line before the pool
// starts and in each worker by its initializer (exec_settings.hpp), as exec's
// --max-output is.
#pragma once

#include <procpool/shared/detail/posix.hpp>

#include <string>
#include <string_view>

namespace procpool::cli::detail {

/// `tag` as a path component (see above).
[[nodiscard]] std::string tag_path_component(std::string_view tag);

/// Creates `dir` (and its missing parents) and makes it the results directory.
/// An error text naming the path, or empty.
[[nodiscard]] std::string set_results_dir(const std::string& dir);
/// The results directory; empty when there is none (no --results).
[[nodiscard]] const std::string& results_dir() noexcept;

/// An exec job's output files, truncated (a retry starts them afresh).
struct job_output_files {
  procpool::detail::unique_fd out;
  procpool::detail::unique_fd err;
};
/// Opens DIR/<tag>/stdout and stderr, creating DIR/<tag>/. Throws
/// std::runtime_error naming the path that failed.
[[nodiscard]] job_output_files open_job_output(std::string_view tag);

/// Writes `text` as DIR/<tag>/result.json (creating DIR/<tag>/). An error text
/// naming the path, or empty.
[[nodiscard]] std::string write_job_result(std::string_view tag, std::string_view text);

}  // namespace procpool::cli::detail
