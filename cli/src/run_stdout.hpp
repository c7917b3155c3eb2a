// --stdout: what a job shows on the terminal instead of its result line, as
// GNU parallel shows it: the job's whole output at once when it ends (grouped,
// never interleaved with another job's), stdout on standard output and stderr
// on standard error. With --tag (or --tagstring) each line starts with the
// job's label and a TAB.
//
// Threads: any; pure functions of their arguments.
#pragma once

#include <procpool/shared/result.hpp>
#include <string>
#include <string_view>

namespace procpool::cli::detail {

/// Appends what job result `r` shows: for exec, the command's stdout to `out`
/// and its stderr to `err` (as the bytes it wrote, done or failed); for any
/// other task that ended done, its value to `out` (a string as it is, anything
/// else as compact JSON) and a newline. `label` non-null: each line is
/// prefixed with it and a TAB (and a last line without newline gets one).
void append_job_output(std::string& out, std::string& err, const procpool::result& r, bool is_exec,
                       const std::string* label);

}  // namespace procpool::cli::detail
