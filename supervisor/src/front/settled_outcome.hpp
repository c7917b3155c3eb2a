// What the result store keeps of a held tag once nothing else refers to its
// record (no handle, callback or waiter): the outcome alone, compact.
//
// A held result is what a user pays for every tag they have not taken yet;
// the whole record (mutex, condition variable, callbacks, retry state and a
// procpool::result with every field) is several times the size of what a
// finished task needs to answer result()/take()/results().
#pragma once

#include <procpool/shared/result.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace procpool::detail {

/// A finished tag's outcome without its tag (the store's key). The common
/// case, a task done on its first attempt in this process's pool, keeps its
/// value, pid, attempts and times inline; any other outcome (a failure, retries,
/// an MPI rank or host) keeps the whole result behind one pointer.
class settled_outcome {
 public:
  settled_outcome() = default;
  /// Takes the contents of `r` (its tag is not kept). Throws std::bad_alloc
  /// before touching `r` if it needs memory it cannot get.
  explicit settled_outcome(procpool::result&& r);

  /// The outcome as a result tagged `tag`, copied (the held result stays).
  [[nodiscard]] procpool::result copy(const std::string& tag) const;
  /// The outcome as a result tagged `tag`, moved out (the tag leaves the store).
  [[nodiscard]] procpool::result take(const std::string& tag) &&;

 private:
  /// Whether `r` is the common case: kept inline.
  [[nodiscard]] static bool fits_inline(const procpool::result& r) noexcept;
  /// The inline outcome as a result carrying `value`.
  [[nodiscard]] procpool::result inline_result(nlohmann::json value) const;

  nlohmann::json value_;
  std::unique_ptr<procpool::result> whole_;  ///< set when the outcome did not fit inline
  std::chrono::system_clock::time_point started_at_{};
  std::chrono::system_clock::time_point finished_at_{};
  int worker_pid_ = 0;
  int attempts_ = 0;
};

}  // namespace procpool::detail
