#include "input.hpp"

#include <poll.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <system_error>

#include "text.hpp"

namespace procpool::cli::detail {

using json = nlohmann::json;

// ---- line_reader ------------------------------------------------------------------

namespace {
constexpr std::size_t min_buffer = std::size_t{64} << 10U;
constexpr std::string_view utf8_bom = "\xEF\xBB\xBF";
}  // namespace

line_reader::line_reader(int fd, std::size_t max_line_bytes, int interrupt_fd)
    : fd_(fd), max_(max_line_bytes), interrupt_fd_(interrupt_fd), buf_(min_buffer) {
  struct stat st {};
  if (::fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) may_block_ = false;
}

bool line_reader::fill_() {
  if (eof_) return false;
  // Keep only the unfinished line, at the start of the buffer.
  if (begin_ > 0) {
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    scan_ -= begin_;
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ == buf_.size()) {
    // A line longer than the buffer but within the limit: grow (at most to the
    // limit plus room for "\r\n" and one more byte, so an over-long line is seen).
    const std::size_t cap = std::max(min_buffer, max_ + 3);
    buf_.resize(std::min(cap, buf_.size() * 2));
  }
  for (;;) {
    if (may_block_ && interrupt_fd_ >= 0) {
      pollfd p[2] = {{fd_, POLLIN, 0}, {interrupt_fd_, POLLIN, 0}};
      const int n = ::poll(p, 2, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw std::system_error(errno, std::generic_category(), "poll on the input");
      }
      if ((p[1].revents & POLLIN) != 0) {
        interrupted_ = true;
        return false;
      }
    }
    const ssize_t r = ::read(fd_, buf_.data() + end_, buf_.size() - end_);
    if (r > 0) {
      end_ += static_cast<std::size_t>(r);
      bytes_read_ += static_cast<std::uint64_t>(r);
      return true;
    }
    if (r == 0) {
      eof_ = true;
      return false;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {  // a non-blocking descriptor
      pollfd p{fd_, POLLIN, 0};
      (void)::poll(&p, 1, -1);
      continue;
    }
    throw std::system_error(errno, std::generic_category(), "read the input");
  }
}

line_reader::item line_reader::finish_line_(std::size_t begin, std::size_t end) {
  ++number_;
  std::string_view text(buf_.data() + begin, end - begin);
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  if (number_ == 1 && text.starts_with(utf8_bom)) text.remove_prefix(utf8_bom.size());
  if (text.size() > max_) return {status::too_long, {}, number_};
  return {status::line, text, number_};
}

line_reader::item line_reader::next() {
  for (;;) {
    if (interrupted_) return {status::interrupted, {}, 0};
    if (scan_ < end_) {
      const void* nl = std::memchr(buf_.data() + scan_, '\n', end_ - scan_);
      if (nl != nullptr) {
        const auto pos = static_cast<std::size_t>(static_cast<const char*>(nl) - buf_.data());
        const std::size_t begin = begin_;
        begin_ = pos + 1;
        scan_ = begin_;
        if (skipping_) {
          skipping_ = false;
          ++number_;
          return {status::too_long, {}, number_};
        }
        return finish_line_(begin, pos);
      }
      scan_ = end_;
    }
    // No newline in what we hold. Over the limit (plus a BOM and a "\r")
    // already? Then drop it and skip to the next newline.
    if (skipping_ || end_ - begin_ > max_ + utf8_bom.size() + 1) {
      skipping_ = true;
      begin_ = scan_ = end_ = 0;
    }
    if (!fill_()) {
      if (interrupted_) return {status::interrupted, {}, 0};
      // End of input: a last line without "\n" counts.
      if (skipping_) {
        skipping_ = false;
        ++number_;
        return {status::too_long, {}, number_};
      }
      if (begin_ < end_) {
        const std::size_t begin = begin_;
        begin_ = scan_ = end_;
        return finish_line_(begin, end_);
      }
      return {status::end, {}, 0};
    }
  }
}

// ---- line_parser ------------------------------------------------------------------

std::chrono::milliseconds seconds_to_ms(double seconds) noexcept {
  if (!(seconds > 0)) return std::chrono::milliseconds{0};
  const double ms = std::ceil(seconds * 1000.0);
  return std::chrono::milliseconds{static_cast<std::int64_t>(std::max(ms, 1.0))};
}

namespace {

bool is_json_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/// A strict RFC 8259 reader over one line, building nlohmann::json values. It
/// refuses what JSON Lines task input must not contain: duplicate keys,
/// nesting past max_json_depth, NaN/Infinity, numbers out of range; the UTF-8
/// was checked before. Faster than nlohmann's parser for this job because the
/// top-level object is read straight into a task_line, never built.
class json_reader {
 public:
  json_reader(std::string_view text, line_error& err)
      : begin_(text.data()), p_(text.data()), end_(text.data() + text.size()), err_(err) {}

  void skip_ws() noexcept {
    while (p_ != end_ && is_json_space(*p_)) ++p_;
  }
  [[nodiscard]] bool at_end() const noexcept { return p_ == end_; }
  [[nodiscard]] char peek() const noexcept { return p_ != end_ ? *p_ : '\0'; }
  [[nodiscard]] std::size_t column() const noexcept {
    return static_cast<std::size_t>(p_ - begin_) + 1;
  }
  bool consume(char c) {
    if (p_ != end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }

  bool fail(const char* type, std::string message) {
    if (err_.type.empty()) {
      err_.type = type;
      err_.message = std::move(message);
    }
    return false;
  }
  bool syntax(const std::string& what) {
    if (p_ == end_) return fail("invalid_json", "malformed JSON: unexpected end of line; " + what);
    std::string got;
    append_json_string(
        got,
        std::string_view(p_, static_cast<std::size_t>(std::min<std::ptrdiff_t>(end_ - p_, 12))));
    return fail("invalid_json", "malformed JSON at column " + std::to_string(column()) + ": " +
                                    what + ", got " + got);
  }

  /// A string literal at p_ (the opening quote included) into `out`.
  bool string(std::string& out) {
    out.clear();
    if (!consume('"')) return syntax("expected a string");
    for (;;) {
      const char* run = p_;
      while (p_ != end_) {
        const auto c = static_cast<unsigned char>(*p_);
        if (c == '"' || c == '\\' || c < 0x20U) break;
        ++p_;
      }
      out.append(run, static_cast<std::size_t>(p_ - run));
      if (p_ == end_) return syntax("unterminated string");
      const char c = *p_;
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c != '\\') return syntax("control character in a string (escape it)");
      ++p_;
      if (p_ == end_) return syntax("unterminated string");
      switch (*p_++) {
        case '"':
          out.push_back('"');
          break;
        case '\\':
          out.push_back('\\');
          break;
        case '/':
          out.push_back('/');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u': {
          std::uint32_t cp = 0;
          if (!hex4_(cp)) return false;
          if (cp >= 0xD800U && cp <= 0xDBFFU) {
            std::uint32_t lo = 0;
            if (!(consume('\\') && consume('u')) || !hex4_(lo) || lo < 0xDC00U || lo > 0xDFFFU) {
              return fail("invalid_json", "malformed JSON at column " + std::to_string(column()) +
                                              ": a high surrogate \\u escape must be followed by a "
                                              "low one");
            }
            cp = 0x10000U + ((cp - 0xD800U) << 10U) + (lo - 0xDC00U);
          } else if (cp >= 0xDC00U && cp <= 0xDFFFU) {
            return fail("invalid_json", "malformed JSON at column " + std::to_string(column()) +
                                            ": a lone low surrogate \\u escape");
          }
          append_utf8_(out, cp);
          break;
        }
        default:
          --p_;
          return syntax("invalid escape");
      }
    }
  }

  /// Any JSON value at p_ into `out`; `depth` counts the containers around it.
  bool value(nlohmann::json& out, std::size_t depth) {
    skip_ws();
    if (p_ == end_) return syntax("expected a value");
    switch (*p_) {
      case '{':
        return object_(out, depth + 1);
      case '[':
        return array_(out, depth + 1);
      case '"': {
        out = nlohmann::json::value_t::string;
        return string(*out.get_ptr<std::string*>());
      }
      case 't':
        return literal_("true", out, true);
      case 'f':
        return literal_("false", out, false);
      case 'n':
        if (end_ - p_ >= 4 && std::string_view(p_, 4) == "null") {
          p_ += 4;
          out = nullptr;
          return true;
        }
        return not_a_number_or_syntax_();
      default:
        if (*p_ == '-' || (*p_ >= '0' && *p_ <= '9')) return number_(out);
        return not_a_number_or_syntax_();
    }
  }

 private:
  bool hex4_(std::uint32_t& v) {
    if (end_ - p_ < 4) return syntax("expected 4 hex digits after \\u");
    v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = *p_;
      std::uint32_t d = 0;
      if (c >= '0' && c <= '9') {
        d = static_cast<std::uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        d = static_cast<std::uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        d = static_cast<std::uint32_t>(c - 'A' + 10);
      } else {
        return syntax("expected 4 hex digits after \\u");
      }
      v = (v << 4U) | d;
      ++p_;
    }
    return true;
  }

  static void append_utf8_(std::string& out, std::uint32_t cp) {
    if (cp < 0x80U) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800U) {
      out.push_back(static_cast<char>(0xC0U | (cp >> 6U)));
      out.push_back(static_cast<char>(0x80U | (cp & 0x3FU)));
    } else if (cp < 0x10000U) {
      out.push_back(static_cast<char>(0xE0U | (cp >> 12U)));
      out.push_back(static_cast<char>(0x80U | ((cp >> 6U) & 0x3FU)));
      out.push_back(static_cast<char>(0x80U | (cp & 0x3FU)));
    } else {
      out.push_back(static_cast<char>(0xF0U | (cp >> 18U)));
      out.push_back(static_cast<char>(0x80U | ((cp >> 12U) & 0x3FU)));
      out.push_back(static_cast<char>(0x80U | ((cp >> 6U) & 0x3FU)));
      out.push_back(static_cast<char>(0x80U | (cp & 0x3FU)));
    }
  }

  bool literal_(std::string_view word, nlohmann::json& out, bool v) {
    if (static_cast<std::size_t>(end_ - p_) >= word.size() &&
        std::string_view(p_, word.size()) == word) {
      p_ += word.size();
      out = v;
      return true;
    }
    return not_a_number_or_syntax_();
  }

  bool not_a_number_or_syntax_() {
    // NaN, Infinity, -Infinity (any case, as other languages print them).
    const char* q = p_;
    if (q != end_ && (*q == '-' || *q == '+')) ++q;
    std::string word;
    while (q != end_ && word.size() < 8 && std::isalpha(static_cast<unsigned char>(*q)) != 0) {
      word.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(*q))));
      ++q;
    }
    if (word == "nan" || word == "inf" || word == "infinity") {
      return fail("invalid_number", "NaN and Infinity are not JSON numbers (column " +
                                        std::to_string(column()) + ")");
    }
    return syntax("expected a value");
  }

  bool number_(nlohmann::json& out) {
    const char* start = p_;
    const bool negative = consume('-');
    if (p_ == end_) return syntax("expected a digit");
    if (*p_ == 'I' || *p_ == 'i' || *p_ == 'N' || *p_ == 'n') {
      p_ = start;
      return not_a_number_or_syntax_();
    }
    if (*p_ == '0') {
      ++p_;
    } else if (*p_ >= '1' && *p_ <= '9') {
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    } else {
      return syntax("expected a digit");
    }
    bool integral = true;
    bool negative_exponent = false;
    if (p_ != end_ && *p_ == '.') {
      integral = false;
      ++p_;
      if (p_ == end_ || *p_ < '0' || *p_ > '9') return syntax("expected a digit after '.'");
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      integral = false;
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) negative_exponent = *p_++ == '-';
      if (p_ == end_ || *p_ < '0' || *p_ > '9') return syntax("expected a digit in the exponent");
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (integral) {
      std::uint64_t magnitude = 0;
      const char* digits = start + (negative ? 1 : 0);
      const auto r = std::from_chars(digits, p_, magnitude);
      if (r.ec == std::errc{} && r.ptr == p_) {
        if (!negative) {
          out = magnitude;
          return true;
        }
        if (magnitude <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
          out = -static_cast<std::int64_t>(magnitude);
          return true;
        }
        if (magnitude == static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + 1) {
          out = std::numeric_limits<std::int64_t>::min();
          return true;
        }
      }
      // Too large for 64 bits: a floating-point number, as nlohmann does.
    }
    double d = 0;
    const auto r = std::from_chars(start, p_, d);
    if (r.ec == std::errc::result_out_of_range) {
      if (!negative_exponent) {
        return fail("invalid_number", "number " + std::string(start, p_) + " is out of range");
      }
      d = negative ? -0.0 : 0.0;  // underflow
    } else if (r.ec != std::errc{} || !std::isfinite(d)) {
      return fail("invalid_number", "number " + std::string(start, p_) + " is out of range");
    }
    out = d;
    return true;
  }

  bool object_(nlohmann::json& out, std::size_t depth) {
    if (depth > max_json_depth) {
      return fail("too_deep", "nesting deeper than " + std::to_string(max_json_depth) + " levels");
    }
    ++p_;  // '{'
    out = nlohmann::json::value_t::object;
    auto& obj = *out.get_ptr<nlohmann::json::object_t*>();
    skip_ws();
    if (consume('}')) return true;
    std::string key;
    for (;;) {
      skip_ws();
      if (!string(key)) return false;
      skip_ws();
      if (!consume(':')) return syntax("expected ':'");
      auto [it, inserted] = obj.try_emplace(std::move(key));
      if (!inserted) return duplicate_key(it->first);
      if (!value(it->second, depth)) return false;
      skip_ws();
      if (consume(',')) continue;
      if (consume('}')) return true;
      return syntax("expected ',' or '}'");
    }
  }

  bool array_(nlohmann::json& out, std::size_t depth) {
    if (depth > max_json_depth) {
      return fail("too_deep", "nesting deeper than " + std::to_string(max_json_depth) + " levels");
    }
    ++p_;  // '['
    out = nlohmann::json::value_t::array;
    auto& arr = *out.get_ptr<nlohmann::json::array_t*>();
    skip_ws();
    if (consume(']')) return true;
    for (;;) {
      arr.emplace_back();
      if (!value(arr.back(), depth)) return false;
      skip_ws();
      if (consume(',')) continue;
      if (consume(']')) return true;
      return syntax("expected ',' or ']'");
    }
  }

 public:
  bool duplicate_key(std::string_view k) {
    std::string msg = "duplicate key ";
    append_json_string(msg, k);
    msg += " in an object";
    return fail("duplicate_key", std::move(msg));
  }

 private:
  const char* begin_;
  const char* p_;
  const char* end_;
  line_error& err_;
};

std::string type_name(const nlohmann::json& j) { return j.type_name(); }

}  // namespace

bool line_parser::parse(std::string_view text, task_line& out, line_error& err,
                        std::optional<std::string>& tag) {
  err = {};
  tag.reset();
  if (std::all_of(text.begin(), text.end(), is_json_space)) {
    err = {"empty_line", "empty line"};
    return false;
  }
  if (const std::size_t bad = find_invalid_utf8(text); bad != std::string_view::npos) {
    err = {"invalid_utf8", "invalid UTF-8 at column " + std::to_string(bad + 1)};
    return false;
  }

  // Pass 1: the syntax of the whole line, reading the top-level members straight
  // into `out`. Checks of their meaning wait until the line is known to be JSON.
  json_reader r(text, err);
  r.skip_ws();
  if (r.peek() != '{') {
    nlohmann::json v;
    if (!r.value(v, 0)) return false;
    r.skip_ws();
    if (!r.at_end()) {
      return r.fail("trailing_garbage",
                    "unexpected text after the JSON value at column " + std::to_string(r.column()));
    }
    err = {"not_an_object", "a task line must be a JSON object, got " + type_name(v)};
    return false;
  }
  (void)r.consume('{');

  enum member : unsigned { m_tag = 1, m_task = 2, m_args = 4, m_timeout = 8, m_retries = 16 };
  unsigned seen = 0;
  bool tag_is_string = false;
  bool task_is_string = false;
  nlohmann::json tag_value;  // when "tag" is not a string
  nlohmann::json task_value;
  nlohmann::json timeout_value;
  nlohmann::json retries_value;
  unknown_keys_.clear();
  out.has_args = false;
  out.args = nullptr;
  out.timeout.reset();
  out.retries.reset();
  out.tag.clear();
  out.task.clear();

  r.skip_ws();
  if (!r.consume('}')) {
    for (;;) {
      r.skip_ws();
      if (!r.string(key_)) return false;
      r.skip_ws();
      if (!r.consume(':')) return r.syntax("expected ':'");
      r.skip_ws();
      unsigned which = 0;
      if (key_ == "tag") {
        which = m_tag;
      } else if (key_ == "task") {
        which = m_task;
      } else if (key_ == "args") {
        which = m_args;
      } else if (key_ == "timeout") {
        which = m_timeout;
      } else if (key_ == "retries") {
        which = m_retries;
      }
      if (which != 0 && (seen & which) != 0) return r.duplicate_key(key_);
      seen |= which;
      bool ok = true;
      switch (which) {
        case m_tag:
          tag_is_string = r.peek() == '"';
          ok = tag_is_string ? r.string(out.tag) : r.value(tag_value, 1);
          break;
        case m_task:
          task_is_string = r.peek() == '"';
          ok = task_is_string ? r.string(out.task) : r.value(task_value, 1);
          break;
        case m_args:
          ok = r.value(out.args, 1);
          out.has_args = true;
          break;
        case m_timeout:
          ok = r.value(timeout_value, 1);
          break;
        case m_retries:
          ok = r.value(retries_value, 1);
          break;
        default:
          // Unknown: still read (it must be valid JSON, and a repeated unknown key
          // is a duplicate too), then refused below.
          if (std::find(unknown_keys_.begin(), unknown_keys_.end(), key_) != unknown_keys_.end()) {
            return r.duplicate_key(key_);
          }
          unknown_keys_.push_back(key_);
          ok = r.value(scratch_, 1);
          break;
      }
      if (!ok) return false;
      r.skip_ws();
      if (r.consume(',')) continue;
      if (r.consume('}')) break;
      return r.syntax("expected ',' or '}'");
    }
  }
  r.skip_ws();
  if (!r.at_end()) {
    return r.fail("trailing_garbage",
                  "unexpected text after the JSON value at column " + std::to_string(r.column()));
  }

  // Pass 2: the meaning. The tag first, so that every later rejection names it.
  if ((seen & m_tag) == 0) {
    err = {"bad_tag", "missing \"tag\""};
    return false;
  }
  if (!tag_is_string) {
    err = {"bad_tag", "\"tag\" must be a string, got " + type_name(tag_value)};
    return false;
  }
  if (out.tag.empty()) {
    err = {"bad_tag", "\"tag\" must not be empty"};
    return false;
  }
  auto reject = [&](std::string type, std::string message) {
    err = {std::move(type), std::move(message)};
    tag = out.tag;
    return false;
  };
  if (!unknown_keys_.empty()) {
    std::string msg = "unknown key ";
    append_json_string(msg, unknown_keys_.front());
    msg += " (a task line has \"tag\", \"task\", \"args\", \"timeout\", \"retries\")";
    return reject("unknown_key", std::move(msg));
  }
  if ((seen & m_task) == 0) return reject("bad_task", "missing \"task\"");
  if (!task_is_string) {
    return reject("bad_task", "\"task\" must be a string, got " + type_name(task_value));
  }
  if (out.task.empty()) return reject("bad_task", "\"task\" must not be empty");
  if ((seen & m_timeout) != 0) {
    if (!timeout_value.is_number()) {
      return reject("bad_field",
                    "\"timeout\" must be a number of seconds, got " + type_name(timeout_value));
    }
    const double s = timeout_value.get<double>();
    if (!(s >= 0) || s > max_timeout_seconds) {
      return reject("bad_field", "\"timeout\" must be between 0 (no limit) and 1e7 seconds, got " +
                                     timeout_value.dump());
    }
    out.timeout = seconds_to_ms(s);
  }
  if ((seen & m_retries) != 0) {
    const nlohmann::json& v = retries_value;
    const bool integral =
        v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0);
    if (!integral || v.get<std::uint64_t>() > static_cast<std::uint64_t>(max_retries)) {
      return reject("bad_field", "\"retries\" must be an integer from 0 to " +
                                     std::to_string(max_retries) + ", got " + v.dump());
    }
    out.retries = v.get<int>();
  }
  return true;
}

}  // namespace procpool::cli::detail
