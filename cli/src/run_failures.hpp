// The first lines of a run that did not end done, for the summary: which line,
// which tag and why, so a failed batch says where to look without a search
// through the result lines.
//
// Owns: the listed failures and the count of the others. Threads: note() from
// the main thread (rejections) and the callback thread (results), under its
// own mutex, taken only for a failure; lines() after both have ended.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <procpool/procpool.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace procpool::cli::detail {

class failure_list {
 public:
  static constexpr std::size_t max_listed = 10;
  static constexpr std::size_t max_text_bytes = 300;  ///< of each reason (stderr tails run long)

  /// Input line `line` (tag `tag`) did not end done, because of `why`.
  void note(std::uint64_t line, std::string_view tag, std::string_view why);

  /// "line 2 (tag x): exited with code 3; stderr: boom", one per listed
  /// failure by line number, then "and N more not done" when some were not.
  /// The listed ones are those of the lowest line numbers: the start of a
  /// file is where people look first, and results end in any order.
  [[nodiscard]] std::vector<std::string> lines() const;

 private:
  mutable std::mutex m_;
  struct entry {
    std::uint64_t line;
    std::string text;
  };
  std::vector<entry> listed_;
  std::uint64_t more_ = 0;
};

/// Why a result that is not done failed, in words: the message, after the
/// state when it is not `failed` ("timed_out: ...").
[[nodiscard]] std::string failure_reason(const procpool::result& r);

}  // namespace procpool::cli::detail
