// SHA-256, streaming, for the built-in `sha256` task: a thin wrapper over
// OpenSSL's libcrypto (EVP), so that the digest code is the audited, CPU-
// accelerated one and not ours.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace procpool::cli::detail {

class sha256 {
 public:
  /// Throws std::runtime_error if libcrypto cannot set up a digest context.
  sha256();
  /// Feeds more message bytes. Precondition: finish() not called yet.
  void update(std::span<const std::uint8_t> bytes);
  void update(const void* data, std::size_t size);
  /// Pads and returns the 32-byte digest. Call once.
  [[nodiscard]] std::array<std::uint8_t, 32> finish();
  /// finish() as 64 lower-case hex digits.
  [[nodiscard]] std::string finish_hex();

 private:
  // EVP_MD_CTX is opaque; a void deleter keeps <openssl/evp.h> out of this header.
  struct ctx_free {
    void operator()(void* ctx) const noexcept;
  };
  std::unique_ptr<void, ctx_free> ctx_;
};

/// The hex digest of `text`.
[[nodiscard]] std::string sha256_hex(std::string_view text);

}  // namespace procpool::cli::detail
