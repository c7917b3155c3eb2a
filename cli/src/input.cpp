#include "input.hpp"

#include <poll.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <system_error>

#include "json_errors.hpp"
#include "line_sax.hpp"
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

bool check_tag(const line_state& st, const task_line& out, line_error& err) {
  if ((st.seen & line_state::m_tag) == 0) {
    err = {"bad_tag", "missing \"tag\""};
    return false;
  }
  if (!st.tag_is_string) {
    err = {"bad_tag", "\"tag\" must be a string, got " + std::string(st.tag_value.type_name())};
    return false;
  }
  if (out.tag.empty()) {
    err = {"bad_tag", "\"tag\" must not be empty"};
    return false;
  }
  return true;
}

bool check_keys_and_task(const line_state& st, const task_line& out, line_error& err) {
  if (!st.unknown_keys.empty()) {
    std::string msg = "unknown key ";
    append_json_string(msg, st.unknown_keys.front());
    msg += " (a task line has \"tag\", \"task\", \"args\", \"timeout\", \"retries\")";
    err = {"unknown_key", std::move(msg)};
    return false;
  }
  if ((st.seen & line_state::m_task) == 0) {
    err = {"bad_task", "missing \"task\""};
    return false;
  }
  if (!st.task_is_string) {
    err = {"bad_task", "\"task\" must be a string, got " + std::string(st.task_value.type_name())};
    return false;
  }
  if (out.task.empty()) {
    err = {"bad_task", "\"task\" must not be empty"};
    return false;
  }
  return true;
}

bool check_limits(const line_state& st, task_line& out, line_error& err) {
  if ((st.seen & line_state::m_timeout) != 0) {
    const json& v = st.timeout_value;
    if (!v.is_number()) {
      err = {"bad_field",
             "\"timeout\" must be a number of seconds, got " + std::string(v.type_name())};
      return false;
    }
    const double s = v.get<double>();
    if (!(s >= 0) || s > max_timeout_seconds) {
      err = {"bad_field",
             "\"timeout\" must be between 0 (no limit) and 1e7 seconds, got " + v.dump()};
      return false;
    }
    out.timeout = seconds_to_ms(s);
  }
  if ((st.seen & line_state::m_retries) != 0) {
    const json& v = st.retries_value;
    const bool integral =
        v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0);
    if (!integral || v.get<std::uint64_t>() > static_cast<std::uint64_t>(max_retries)) {
      err = {"bad_field", "\"retries\" must be an integer from 0 to " +
                              std::to_string(max_retries) + ", got " + v.dump()};
      return false;
    }
    out.retries = v.get<int>();
  }
  return true;
}

}  // namespace

line_parser::line_parser() : state_(std::make_unique<line_state>()) {}
line_parser::line_parser(line_parser&&) noexcept = default;
line_parser& line_parser::operator=(line_parser&&) noexcept = default;
line_parser::~line_parser() = default;

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
  // into `out`. Pass 2: their meaning, once the line is known to be JSON.
  return read_(text, out, err) && check_(out, err, tag);
}

bool line_parser::read_(std::string_view text, task_line& out, line_error& err) {
  line_state& st = *state_;
  st.reset(out);
  // nlohmann skips a byte order mark at the start of its input; ours was
  // dropped at the start of the file (line_reader), so here it is not JSON.
  if (text.front() == '\xEF') {
    err = json_syntax_error(text, 0, "expected a value");
    return false;
  }
  line_sax sax(text, out, st, err);
  if (!json::sax_parse(text.data(), text.data() + text.size(), &sax)) return false;
  // nlohmann takes a NUL byte outside a string for the end of its input.
  if (const std::size_t nul = text.find('\0'); nul != std::string_view::npos) {
    err = {"trailing_garbage",
           "unexpected text after the JSON value at column " + std::to_string(nul + 1)};
    return false;
  }
  if (!st.is_object) {
    err = {"not_an_object",
           "a task line must be a JSON object, got " + std::string(st.scratch.type_name())};
    return false;
  }
  return true;
}

bool line_parser::check_(task_line& out, line_error& err, std::optional<std::string>& tag) const {
  const line_state& st = *state_;
  // The tag first, so that every later rejection names it.
  if (!check_tag(st, out, err)) return false;
  if (!check_keys_and_task(st, out, err) || !check_limits(st, out, err)) {
    tag = out.tag;
    return false;
  }
  return true;
}

}  // namespace procpool::cli::detail
