// --resume: what an earlier run already finished, read back from the output
// file it wrote, and preparing that file for the lines appended now.
//
// Owns: the reading of result lines for their done tags. Threads: the main
// thread, while the run is set up (before any other thread starts).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "run_console.hpp"
#include "tag_set.hpp"

namespace procpool::cli::detail {

/// The value a tag carries in the seen-set when an earlier run finished it: the
/// first input line with that tag is skipped, a second is a duplicate.
inline constexpr std::uint64_t done_earlier = ~std::uint64_t{0};

/// The tag of a result line written by an earlier run, if that line says "done".
[[nodiscard]] std::optional<std::string> done_tag_of(std::string_view line);

/// Reads the output file `fd` (named `path` in messages) of an earlier run:
/// every tag with a done line goes into `seen` as done_earlier. Then cuts an
/// unfinished last line off and leaves `fd` appending at its end. False (after
/// a note) when the file cannot be read or cut.
bool prepare_resume(int fd, const std::string& path, tag_set& seen, console& err);

}  // namespace procpool::cli::detail
