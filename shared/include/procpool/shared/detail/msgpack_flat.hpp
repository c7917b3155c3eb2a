// MessagePack read and written in place, without a JSON DOM: array headers,
// scalars and strings, and skipping any value. The map fast path uses it for
// chunk inputs and outcomes (worker/src/batch_runner.cpp, the map engine, the
// typed map).
//
// The reader takes only the plain cases (an integer into an integral type it
// fits, a number into a floating type, true/false into bool, a string into
// std::string); anything else it refuses without consuming, and the caller
// falls back to nlohmann's conversion. So nlohmann's rules stay the only ones
// a user sees, and this file decides only how fast they are applied. It never
// reads past the end it was given: bytes a caller cannot trust are refused,
// not overrun.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace procpool::detail::msgpack {

// ---- writing ----------------------------------------------------------------

/// Appends `n` big-endian bytes of `v`.
inline void put_be(std::vector<std::uint8_t>& out, std::uint64_t v, int n) {
  for (int shift = 8 * (n - 1); shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

inline void put_array_header(std::vector<std::uint8_t>& out, std::size_t n) {
  if (n < 16) {
    out.push_back(static_cast<std::uint8_t>(0x90U | n));
  } else if (n <= 0xffffU) {
    out.push_back(0xdc);
    put_be(out, n, 2);
  } else {
    out.push_back(0xdd);
    put_be(out, n, 4);
  }
}

inline void put_map_header(std::vector<std::uint8_t>& out, std::size_t n) {
  if (n < 16) {
    out.push_back(static_cast<std::uint8_t>(0x80U | n));
  } else if (n <= 0xffffU) {
    out.push_back(0xde);
    put_be(out, n, 2);
  } else {
    out.push_back(0xdf);
    put_be(out, n, 4);
  }
}

inline void put_nil(std::vector<std::uint8_t>& out) { out.push_back(0xc0); }

inline void put_bool(std::vector<std::uint8_t>& out, bool v) { out.push_back(v ? 0xc3 : 0xc2); }

inline void put_uint(std::vector<std::uint8_t>& out, std::uint64_t v) {
  if (v < 0x80U) {
    out.push_back(static_cast<std::uint8_t>(v));
  } else if (v <= 0xffU) {
    out.push_back(0xcc);
    put_be(out, v, 1);
  } else if (v <= 0xffffU) {
    out.push_back(0xcd);
    put_be(out, v, 2);
  } else if (v <= 0xffffffffU) {
    out.push_back(0xce);
    put_be(out, v, 4);
  } else {
    out.push_back(0xcf);
    put_be(out, v, 8);
  }
}

inline void put_int(std::vector<std::uint8_t>& out, std::int64_t v) {
  if (v >= 0) {
    put_uint(out, static_cast<std::uint64_t>(v));
  } else if (v >= -32) {
    out.push_back(static_cast<std::uint8_t>(v));  // negative fixint
  } else if (v >= std::numeric_limits<std::int8_t>::min()) {
    out.push_back(0xd0);
    put_be(out, static_cast<std::uint64_t>(v), 1);
  } else if (v >= std::numeric_limits<std::int16_t>::min()) {
    out.push_back(0xd1);
    put_be(out, static_cast<std::uint64_t>(v), 2);
  } else if (v >= std::numeric_limits<std::int32_t>::min()) {
    out.push_back(0xd2);
    put_be(out, static_cast<std::uint64_t>(v), 4);
  } else {
    out.push_back(0xd3);
    put_be(out, static_cast<std::uint64_t>(v), 8);
  }
}

inline void put_double(std::vector<std::uint8_t>& out, double v) {
  std::uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof bits);
  out.push_back(0xcb);
  put_be(out, bits, 8);
}

inline void put_str(std::vector<std::uint8_t>& out, std::string_view s) {
  const std::size_t n = s.size();
  if (n < 32) {
    out.push_back(static_cast<std::uint8_t>(0xa0U | n));
  } else if (n <= 0xffU) {
    out.push_back(0xd9);
    put_be(out, n, 1);
  } else if (n <= 0xffffU) {
    out.push_back(0xda);
    put_be(out, n, 2);
  } else {
    out.push_back(0xdb);
    put_be(out, n, 4);
  }
  out.insert(out.end(), s.begin(), s.end());
}

/// A binary (bin 8/16/32), its bytes copied with one insert.
inline void put_bin(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> b) {
  const std::size_t n = b.size();
  if (n <= 0xffU) {
    out.push_back(0xc4);
    put_be(out, n, 1);
  } else if (n <= 0xffffU) {
    out.push_back(0xc5);
    put_be(out, n, 2);
  } else {
    out.push_back(0xc6);
    put_be(out, n, 4);
  }
  out.insert(out.end(), b.begin(), b.end());
}

// ---- reading ----------------------------------------------------------------

/// A cursor over MessagePack bytes. Every read either consumes one whole item
/// and returns true, or consumes nothing and returns false.
class reader {
 public:
  reader(const std::uint8_t* p, const std::uint8_t* end) noexcept : p_(p), end_(end) {}
  explicit reader(std::span<const std::uint8_t> s) noexcept : p_(s.data()), end_(s.data() + s.size()) {}

  [[nodiscard]] const std::uint8_t* pos() const noexcept { return p_; }
  [[nodiscard]] const std::uint8_t* end() const noexcept { return end_; }
  [[nodiscard]] bool at_end() const noexcept { return p_ == end_; }
  /// Back to a position this reader returned from pos().
  void seek(const std::uint8_t* p) noexcept { p_ = p; }

  bool array_header(std::size_t& n) noexcept {
    if (at_end()) return false;
    const std::uint8_t t = *p_;
    if ((t & 0xf0U) == 0x90U) {
      n = t & 0x0fU;
      ++p_;
      return true;
    }
    if (t != 0xdc && t != 0xdd) return false;
    const int len = t == 0xdc ? 2 : 4;
    std::uint64_t v = 0;
    if (!be_after_tag(len, v)) return false;
    n = static_cast<std::size_t>(v);
    return true;
  }

  bool map_header(std::size_t& n) noexcept {
    if (at_end()) return false;
    const std::uint8_t t = *p_;
    if ((t & 0xf0U) == 0x80U) {
      n = t & 0x0fU;
      ++p_;
      return true;
    }
    if (t != 0xde && t != 0xdf) return false;
    std::uint64_t v = 0;
    if (!be_after_tag(t == 0xde ? 2 : 4, v)) return false;
    n = static_cast<std::size_t>(v);
    return true;
  }

  /// A bin 8/16/32 value's bytes (a view into the input).
  bool binary(std::span<const std::uint8_t>& b) noexcept {
    if (at_end() || *p_ < 0xc4 || *p_ > 0xc6) return false;
    const std::uint8_t* const start = p_;
    std::uint64_t n = 0;
    if (!be_after_tag(*p_ == 0xc4 ? 1 : *p_ == 0xc5 ? 2 : 4, n)) return false;
    if (n > static_cast<std::uint64_t>(end_ - p_)) {
      p_ = start;
      return false;
    }
    b = std::span<const std::uint8_t>(p_, static_cast<std::size_t>(n));
    p_ += n;
    return true;
  }

  bool nil() noexcept {
    if (at_end() || *p_ != 0xc0) return false;
    ++p_;
    return true;
  }

  bool boolean(bool& v) noexcept {
    if (at_end() || (*p_ != 0xc2 && *p_ != 0xc3)) return false;
    v = *p_++ == 0xc3;
    return true;
  }

  /// Any integer encoding, as a signed or unsigned 64-bit value.
  bool integer(bool& negative, std::uint64_t& bits) noexcept {
    if (at_end()) return false;
    const std::uint8_t t = *p_;
    if (t < 0x80U || t >= 0xe0U) {  // positive or negative fixint
      negative = t >= 0xe0U;
      bits = static_cast<std::uint64_t>(static_cast<std::int64_t>(static_cast<std::int8_t>(t)));
      ++p_;
      return true;
    }
    int len = 0;
    bool is_signed = false;
    switch (t) {
      case 0xcc: len = 1; break;
      case 0xcd: len = 2; break;
      case 0xce: len = 4; break;
      case 0xcf: len = 8; break;
      case 0xd0: len = 1; is_signed = true; break;
      case 0xd1: len = 2; is_signed = true; break;
      case 0xd2: len = 4; is_signed = true; break;
      case 0xd3: len = 8; is_signed = true; break;
      default: return false;
    }
    std::uint64_t v = 0;
    if (!be_after_tag(len, v)) return false;
    if (is_signed && len < 8) {
      const int unused = 64 - 8 * len;  // sign-extend
      v = static_cast<std::uint64_t>(static_cast<std::int64_t>(v << unused) >> unused);
    }
    negative = is_signed && static_cast<std::int64_t>(v) < 0;
    bits = v;
    return true;
  }

  /// A float32 or float64.
  bool floating(double& v) noexcept {
    if (at_end() || (*p_ != 0xca && *p_ != 0xcb)) return false;
    const bool single = *p_ == 0xca;
    std::uint64_t bits = 0;
    if (!be_after_tag(single ? 4 : 8, bits)) return false;
    if (single) {
      const auto b32 = static_cast<std::uint32_t>(bits);
      float f = 0;
      std::memcpy(&f, &b32, sizeof f);
      v = f;
    } else {
      std::memcpy(&v, &bits, sizeof v);
    }
    return true;
  }

  bool string(std::string_view& s) noexcept {
    if (at_end()) return false;
    const std::uint8_t* const start = p_;
    const std::uint8_t t = *p_;
    std::uint64_t n = 0;
    if ((t & 0xe0U) == 0xa0U) {
      n = t & 0x1fU;
      ++p_;
    } else if (t == 0xd9 || t == 0xda || t == 0xdb) {
      if (!be_after_tag(t == 0xd9 ? 1 : t == 0xda ? 2 : 4, n)) return false;
    } else {
      return false;
    }
    if (n > static_cast<std::uint64_t>(end_ - p_)) {
      p_ = start;
      return false;
    }
    s = std::string_view(reinterpret_cast<const char*>(p_), static_cast<std::size_t>(n));
    p_ += n;
    return true;
  }

  /// Steps over one whole value of any type; false (nothing consumed) on
  /// bytes that are truncated or not MessagePack.
  bool skip() noexcept {
    const std::uint8_t* const start = p_;
    std::uint64_t pending = 1;  // values still to step over
    while (pending > 0) {
      --pending;
      std::uint64_t children = 0;
      if (!skip_head(children) || children > static_cast<std::uint64_t>(end_ - p_)) {
        p_ = start;  // every child takes at least one byte
        return false;
      }
      pending += children;
    }
    return true;
  }

 private:
  const std::uint8_t* p_;
  const std::uint8_t* end_;

  /// Reads the `len`-byte big-endian length or value after the tag byte.
  bool be_after_tag(int len, std::uint64_t& v) noexcept {
    if (end_ - p_ < 1 + len) return false;
    v = 0;
    for (int k = 1; k <= len; ++k) v = (v << 8U) | p_[k];
    p_ += 1 + len;
    return true;
  }

  bool skip_bytes(std::uint64_t n) noexcept {
    if (n > static_cast<std::uint64_t>(end_ - p_)) return false;
    p_ += n;
    return true;
  }

  /// Steps over one value's head and any bytes it owns; `children` is how many
  /// values (array elements, map keys and values) follow it.
  bool skip_head(std::uint64_t& children) noexcept {
    if (at_end()) return false;
    const std::uint8_t t = *p_;
    std::uint64_t n = 0;
    if (t < 0x80U || t >= 0xe0U || t == 0xc0 || t == 0xc2 || t == 0xc3) return skip_bytes(1);
    if ((t & 0xf0U) == 0x80U) return (children = 2U * (t & 0x0fU)), skip_bytes(1);
    if ((t & 0xf0U) == 0x90U) return (children = t & 0x0fU), skip_bytes(1);
    if ((t & 0xe0U) == 0xa0U) return skip_bytes(1U + (t & 0x1fU));
    switch (t) {
      case 0xc4: case 0xd9: return be_after_tag(1, n) && skip_bytes(n);
      case 0xc5: case 0xda: return be_after_tag(2, n) && skip_bytes(n);
      case 0xc6: case 0xdb: return be_after_tag(4, n) && skip_bytes(n);
      case 0xc7: return be_after_tag(1, n) && skip_bytes(n + 1);
      case 0xc8: return be_after_tag(2, n) && skip_bytes(n + 1);
      case 0xc9: return be_after_tag(4, n) && skip_bytes(n + 1);
      case 0xcc: case 0xd0: return skip_bytes(2);
      case 0xcd: case 0xd1: return skip_bytes(3);
      case 0xca: case 0xce: case 0xd2: return skip_bytes(5);
      case 0xcb: case 0xcf: case 0xd3: return skip_bytes(9);
      case 0xd4: return skip_bytes(3);
      case 0xd5: return skip_bytes(4);
      case 0xd6: return skip_bytes(6);
      case 0xd7: return skip_bytes(10);
      case 0xd8: return skip_bytes(18);
      case 0xdc: return be_after_tag(2, children);
      case 0xdd: return be_after_tag(4, children);
      case 0xde: return be_after_tag(2, n) && ((children = 2 * n), true);
      case 0xdf: return be_after_tag(4, n) && ((children = 2 * n), true);
      default: return false;  // 0xc1: never used
    }
  }
};

// ---- flat C++ values --------------------------------------------------------

/// The types read and written here without nlohmann: arithmetic types and
/// std::string. Others go through nlohmann's to_json/from_json.
template <class T>
inline constexpr bool is_flat_v = std::is_arithmetic_v<T> || std::is_same_v<T, std::string>;

template <class T>
void write_flat(std::vector<std::uint8_t>& out, const T& v) {
  static_assert(is_flat_v<T>);
  if constexpr (std::is_same_v<T, bool>) {
    put_bool(out, v);
  } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    put_int(out, static_cast<std::int64_t>(v));
  } else if constexpr (std::is_integral_v<T>) {
    put_uint(out, static_cast<std::uint64_t>(v));
  } else if constexpr (std::is_floating_point_v<T>) {
    put_double(out, static_cast<double>(v));
  } else {
    put_str(out, v);
  }
}

/// Reads an integer that `T` holds exactly; false (nothing consumed) otherwise.
template <class T>
bool read_integral(reader& in, T& v) noexcept {
  const std::uint8_t* const start = in.pos();
  bool negative = false;
  std::uint64_t bits = 0;
  if (!in.integer(negative, bits)) return false;
  bool fits = false;
  if (negative) {
    const auto s = static_cast<std::int64_t>(bits);
    if constexpr (std::is_signed_v<T>) fits = s >= static_cast<std::int64_t>(std::numeric_limits<T>::min());
  } else {
    fits = bits <= static_cast<std::uint64_t>(std::numeric_limits<T>::max());
  }
  if (!fits) {
    in.seek(start);
    return false;
  }
  v = static_cast<T>(bits);
  return true;
}

/// Reads a value of a flat type where nlohmann would read the same value;
/// false (nothing consumed) where the caller must ask nlohmann.
template <class T>
bool read_flat(reader& in, T& v) {
  static_assert(is_flat_v<T>);
  if constexpr (std::is_same_v<T, bool>) {
    return in.boolean(v);
  } else if constexpr (std::is_integral_v<T>) {
    return read_integral(in, v);
  } else if constexpr (std::is_floating_point_v<T>) {
    double d = 0;
    if (in.floating(d)) {
      v = static_cast<T>(d);
      return true;
    }
    bool negative = false;
    std::uint64_t bits = 0;
    if (!in.integer(negative, bits)) return false;
    v = negative ? static_cast<T>(static_cast<std::int64_t>(bits)) : static_cast<T>(bits);
    return true;
  } else {
    std::string_view s;
    if (!in.string(s)) return false;
    v.assign(s);
    return true;
  }
}

}  // namespace procpool::detail::msgpack
