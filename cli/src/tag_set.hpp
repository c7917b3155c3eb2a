// The set of tags seen so far, with the line each was first seen on: a compact
// open-addressing table over a chunked arena (about 40 bytes per short tag), so
// that duplicate detection over a 10-million-line input stays affordable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace procpool::cli::detail {

class tag_set {
 public:
  tag_set();
  /// The value stored for `tag`, or nullptr. The pointer stays valid for the
  /// set's lifetime (the value may be updated through it).
  [[nodiscard]] std::uint64_t* find(std::string_view tag) noexcept;
  /// Adds `tag` with `value`. Precondition: find(tag) == nullptr and
  /// tag.size() < 65536.
  void insert(std::string_view tag, std::uint64_t value);
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

 private:
  static constexpr std::size_t chunk_bytes = std::size_t{1} << 20U;
  [[nodiscard]] const char* record_(std::uint64_t slot) const noexcept;
  void grow_();

  std::vector<std::uint64_t> slots_;  // 0: empty; else hash bits | (record offset / 8 + 1)
  std::vector<std::unique_ptr<char[]>> chunks_;  // NOLINT(*-avoid-c-arrays): raw arena
  std::size_t used_in_chunk_ = chunk_bytes;      // forces the first chunk
  std::size_t size_ = 0;
};

}  // namespace procpool::cli::detail
