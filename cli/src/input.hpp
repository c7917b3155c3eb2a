// Reading the task input: a line reader that never holds more than one line
// (and never a line over the limit), and the strict parser of one task line
// (nlohmann's SAX parser with our handler, line_sax.hpp).
//
// Line rules (docs/cli.md):
//   - lines end with "\n"; one "\r" before it is dropped (CRLF files work);
//   - a UTF-8 byte order mark is dropped at the start of the input only;
//   - a last line without "\n" is a line like any other;
//   - a line longer than max_line_bytes (terminator excluded) is reported as
//     too long while it is read: its bytes are skipped, never buffered whole.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace procpool::cli::detail {

class line_reader {
 public:
  enum class status { line, too_long, end, interrupted };
  struct item {
    status st = status::end;
    std::string_view text;     ///< the line without terminator (status::line only)
    std::uint64_t number = 0;  ///< 1-based line number (line, too_long)
  };

  /// Reads `fd` (not owned). For inputs that can block (pipes, terminals,
  /// sockets) each read first polls `fd` together with `interrupt_fd` (-1:
  /// none); once `interrupt_fd` is readable, next() returns `interrupted`.
  line_reader(int fd, std::size_t max_line_bytes, int interrupt_fd = -1);

  /// The next line; `text` stays valid until the next call. Blocks on input.
  /// Throws std::system_error when reading fails.
  item next();

  /// Bytes read from the descriptor so far.
  [[nodiscard]] std::uint64_t bytes_read() const noexcept { return bytes_read_; }

 private:
  bool fill_();  // false at end of input; throws on errors
  item finish_line_(std::size_t begin, std::size_t end);

  int fd_;
  std::size_t max_;
  int interrupt_fd_;
  bool may_block_ = true;
  bool eof_ = false;
  bool interrupted_ = false;
  bool skipping_ = false;  // inside a line that is too long
  std::vector<char> buf_;
  std::size_t begin_ = 0;  // start of the current line in buf_
  std::size_t scan_ = 0;   // where the search for '\n' resumes
  std::size_t end_ = 0;    // end of the data in buf_
  std::uint64_t number_ = 0;
  std::uint64_t bytes_read_ = 0;
};

/// Why a line was rejected: a short machine-readable type (see docs/cli.md)
/// and a message for people.
struct line_error {
  std::string type;
  std::string message;
};

/// One valid task line.
struct task_line {
  std::string tag;
  std::string task;
  bool has_args = false;
  nlohmann::json args;  ///< the `args` member as written (when has_args)
  std::optional<std::chrono::milliseconds> timeout;  ///< from "timeout" (seconds)
  std::optional<int> retries;                        ///< from "retries"
};

inline constexpr std::size_t max_json_depth = 128;
inline constexpr int max_retries = 1000;
inline constexpr double max_timeout_seconds = 1e7;  // about 115 days

/// Converts a time limit in seconds (finite, >= 0) to milliseconds, rounding up;
/// 0 stays 0 (no limit).
[[nodiscard]] std::chrono::milliseconds seconds_to_ms(double seconds) noexcept;

struct line_state;

/// Parses and validates task lines. Not thread-safe; reuse one per thread.
class line_parser {
 public:
  line_parser();
  line_parser(const line_parser&) = delete;
  line_parser& operator=(const line_parser&) = delete;
  line_parser(line_parser&&) noexcept;
  line_parser& operator=(line_parser&&) noexcept;
  ~line_parser();

  /// Parses `text` (terminator, CR and BOM already removed). On success fills
  /// `out` and returns true. On failure fills `err`, sets `tag` to the line's
  /// tag when it could be read (a non-empty string member "tag" of a
  /// well-formed object), and returns false.
  bool parse(std::string_view text, task_line& out, line_error& err,
             std::optional<std::string>& tag);

 private:
  bool read_(std::string_view text, task_line& out, line_error& err);
  bool check_(task_line& out, line_error& err, std::optional<std::string>& tag) const;

  std::unique_ptr<line_state> state_;  // what reading a line found; reused
};

}  // namespace procpool::cli::detail
