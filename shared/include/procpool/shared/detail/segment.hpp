// A region of memory shared by the supervisor and its workers. Process mode: a
// memfd with no name on disk, mapped MAP_SHARED (workers inherit the mapping
// across fork and the descriptor across exec). Thread mode: private anonymous
// memory. Either way nothing is left behind when the last user goes.
#pragma once

#include <cstddef>

namespace procpool::detail {

class segment {
 public:
  enum class kind { shared, private_ };

  segment() = default;
  /// Creates and maps `bytes` (rounded up to a page) of zeroed memory. Throws
  /// procpool::error(errc::system) naming the failing call.
  segment(kind k, std::size_t bytes);
  segment(segment&& other) noexcept;
  segment& operator=(segment&& other) noexcept;
  segment(const segment&) = delete;
  segment& operator=(const segment&) = delete;
  ~segment();

  [[nodiscard]] void* data() const noexcept { return data_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  /// The memfd (shared kind), or -1. Owned by the segment; close-on-exec.
  [[nodiscard]] int fd() const noexcept { return fd_; }

 private:
  void reset() noexcept;
  void* data_ = nullptr;
  std::size_t size_ = 0;
  int fd_ = -1;
};

}  // namespace procpool::detail
