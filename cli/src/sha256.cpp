#include "sha256.hpp"

#include <openssl/evp.h>

#include <stdexcept>

namespace procpool::cli::detail {
namespace {

EVP_MD_CTX* as_ctx(void* p) noexcept { return static_cast<EVP_MD_CTX*>(p); }

// libcrypto fails only on allocation or a broken provider setup: both are
// errors of the machine, reported as the task's failure.
void check(int ok, const char* what) {
  if (ok != 1) throw std::runtime_error(std::string("sha256: libcrypto ") + what + " failed");
}

}  // namespace

void sha256::ctx_free::operator()(void* ctx) const noexcept { EVP_MD_CTX_free(as_ctx(ctx)); }

sha256::sha256() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_) throw std::runtime_error("sha256: libcrypto EVP_MD_CTX_new failed");
  check(EVP_DigestInit_ex(as_ctx(ctx_.get()), EVP_sha256(), nullptr), "EVP_DigestInit_ex");
}

void sha256::update(std::span<const std::uint8_t> bytes) { update(bytes.data(), bytes.size()); }

void sha256::update(const void* data, std::size_t size) {
  if (size == 0) return;
  check(EVP_DigestUpdate(as_ctx(ctx_.get()), data, size), "EVP_DigestUpdate");
}

std::array<std::uint8_t, 32> sha256::finish() {
  std::array<std::uint8_t, 32> out{};
  unsigned int len = 0;
  check(EVP_DigestFinal_ex(as_ctx(ctx_.get()), out.data(), &len), "EVP_DigestFinal_ex");
  if (len != out.size()) throw std::runtime_error("sha256: libcrypto returned a digest of the wrong size");
  return out;
}

std::string sha256::finish_hex() {
  static constexpr std::string_view digits = "0123456789abcdef";
  std::string hex;
  hex.reserve(64);
  for (const std::uint8_t b : finish()) {
    hex += digits[b >> 4U];
    hex += digits[b & 0xFU];
  }
  return hex;
}

std::string sha256_hex(std::string_view text) {
  sha256 h;
  h.update(text.data(), text.size());
  return h.finish_hex();
}

}  // namespace procpool::cli::detail
