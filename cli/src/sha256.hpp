// SHA-256 (FIPS 180-4), streaming. Used by the built-in `sha256` task.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace procpool::cli::detail {

class sha256 {
 public:
  sha256() noexcept;
  /// Feeds more message bytes. Precondition: finish() not called yet.
  void update(std::span<const std::uint8_t> bytes) noexcept;
  void update(const void* data, std::size_t size) noexcept;
  /// Pads and returns the 32-byte digest. Call once.
  [[nodiscard]] std::array<std::uint8_t, 32> finish() noexcept;
  /// finish() as 64 lower-case hex digits.
  [[nodiscard]] std::string finish_hex();

 private:
  void compress_(const std::uint8_t* block) noexcept;
  std::array<std::uint32_t, 8> h_{};
  std::array<std::uint8_t, 64> buf_{};
  std::size_t buf_len_ = 0;
  std::uint64_t total_bytes_ = 0;
};

/// The hex digest of `text`.
[[nodiscard]] std::string sha256_hex(std::string_view text);

}  // namespace procpool::cli::detail
