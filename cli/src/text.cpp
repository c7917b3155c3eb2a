#include "text.hpp"

#include <array>
#include <charconv>
#include <cstring>
#include <ctime>

namespace procpool::cli::detail {
namespace {

constexpr std::string_view replacement_utf8 = "\xEF\xBF\xBD";  // U+FFFD

bool is_cont(unsigned char c) noexcept { return (c & 0xC0U) == 0x80U; }

/// The length of the leading run of ASCII bytes.
std::size_t ascii_prefix(std::string_view s) noexcept {
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i + 8 <= n) {
    std::uint64_t w = 0;
    std::memcpy(&w, s.data() + i, 8);
    if ((w & 0x8080808080808080ULL) != 0) break;
    i += 8;
  }
  while (i < n && static_cast<unsigned char>(s[i]) < 0x80U) ++i;
  return i;
}

}  // namespace

std::size_t utf8_sequence_length(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  const unsigned char c = p[0];
  if (c < 0x80U) return 1;
  if (c < 0xC2U) return 0;  // continuation byte, or an overlong 2-byte lead
  if (c < 0xE0U) return (n >= 2 && is_cont(p[1])) ? 2 : 0;
  if (c < 0xF0U) {
    if (n < 3 || !is_cont(p[1]) || !is_cont(p[2])) return 0;
    if (c == 0xE0U && p[1] < 0xA0U) return 0;  // overlong
    if (c == 0xEDU && p[1] > 0x9FU) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (c < 0xF5U) {
    if (n < 4 || !is_cont(p[1]) || !is_cont(p[2]) || !is_cont(p[3])) return 0;
    if (c == 0xF0U && p[1] < 0x90U) return 0;  // overlong
    if (c == 0xF4U && p[1] > 0x8FU) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

std::size_t find_invalid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    i += ascii_prefix(s.substr(i));
    if (i == s.size()) break;
    const std::size_t len = utf8_sequence_length(s.substr(i));
    if (len == 0) return i;
    i += len;
  }
  return std::string_view::npos;
}

void append_utf8_repaired(std::string& out, std::string_view in) {
  std::size_t i = 0;
  while (i < in.size()) {
    const std::size_t run = ascii_prefix(in.substr(i));
    out.append(in.data() + i, run);
    i += run;
    if (i == in.size()) break;
    const std::size_t len = utf8_sequence_length(in.substr(i));
    if (len == 0) {
      out.append(replacement_utf8);
      ++i;
    } else {
      out.append(in.data() + i, len);
      i += len;
    }
  }
}

void append_json_string(std::string& out, std::string_view s) {
  static constexpr std::string_view hex = "0123456789abcdef";
  out.push_back('"');
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    // Copy the longest run that needs no escaping in one go.
    std::size_t j = i;
    while (j < n) {
      const auto c = static_cast<unsigned char>(s[j]);
      if (c < 0x20U || c == '"' || c == '\\' || c >= 0x80U) break;
      ++j;
    }
    out.append(s.data() + i, j - i);
    i = j;
    if (i == n) break;
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80U) {
      const std::size_t len = utf8_sequence_length(s.substr(i));
      if (len == 0) {
        out.append("\\ufffd");
        ++i;
      } else {
        out.append(s.data() + i, len);
        i += len;
      }
      continue;
    }
    if (const char* e = common_escape(static_cast<char>(c))) {
      out.append(e);
      ++i;
      continue;
    }
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\f':
        out.append("\\f");
        break;
      default:
        out.append("\\u00");
        out.push_back(hex[c >> 4U]);
        out.push_back(hex[c & 0x0FU]);
        break;
    }
    ++i;
  }
  out.push_back('"');
}

const char* common_escape(char c) noexcept {
  switch (c) {
    case '\\': return "\\\\";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    default: return nullptr;
  }
}

void append_int(std::string& out, std::int64_t v) {
  std::array<char, 24> buf{};
  const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  out.append(buf.data(), static_cast<std::size_t>(r.ptr - buf.data()));
}

void append_fixed(std::string& out, double v, int decimals) {
  std::array<char, 64> buf{};
  const auto r =
      std::to_chars(buf.data(), buf.data() + buf.size(), v, std::chars_format::fixed, decimals);
  if (r.ec != std::errc{}) {
    out.append("0");
    return;
  }
  out.append(buf.data(), static_cast<std::size_t>(r.ptr - buf.data()));
}

void append_iso8601_utc(std::string& out, std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto ms_total = duration_cast<milliseconds>(t.time_since_epoch()).count();
  std::int64_t secs = ms_total / 1000;
  std::int64_t ms = ms_total % 1000;
  if (ms < 0) {
    ms += 1000;
    secs -= 1;
  }
  const auto tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  std::array<char, 40> buf{};
  const std::size_t n = std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%S", &tm);
  out.append(buf.data(), n);
  out.push_back('.');
  out.push_back(static_cast<char>('0' + ms / 100));
  out.push_back(static_cast<char>('0' + (ms / 10) % 10));
  out.push_back(static_cast<char>('0' + ms % 10));
  out.push_back('Z');
}

}  // namespace procpool::cli::detail
