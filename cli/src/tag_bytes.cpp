#include "tag_bytes.hpp"

#include <openssl/evp.h>

#include <limits>

#include "text.hpp"

namespace procpool::cli::detail {

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');  // +1: EVP_EncodeBlock ends with NUL
  // One call: the input of a tag is at most 64 KiB, far below int's range.
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0 || text.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    return std::nullopt;
  }
  // EVP_DecodeBlock accepts padding only as the last one or two characters, but
  // returns whole 3-byte groups: the padding says how many of the last to drop.
  std::size_t pad = 0;
  if (!text.empty() && text.back() == '=') ++pad;
  if (text.size() >= 2 && text[text.size() - 2] == '=') ++pad;
  std::string out(3 * (text.size() / 4), '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0 || static_cast<std::size_t>(n) != out.size()) return std::nullopt;
  out.resize(out.size() - pad);
  // Reject what OpenSSL tolerates but is not the canonical form (whitespace
  // inside, '=' in the middle): the encoding must round-trip exactly.
  if (base64_encode(out) != text) return std::nullopt;
  return out;
}

void append_tag_bytes_field(std::string& out, std::string_view tag) {
  if (find_invalid_utf8(tag) == std::string_view::npos) return;
  out.append("\"tag_base64\":\"");
  out.append(base64_encode(tag));
  out.append("\",");
}

}  // namespace procpool::cli::detail
