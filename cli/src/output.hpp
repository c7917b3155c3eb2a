// The command's output: result lines (JSON Lines), joblog lines (GNU parallel's
// columns), and a buffered descriptor writer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <procpool/shared/result.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace procpool::cli::detail {

/// Buffered writes to a descriptor. Not thread-safe (the runner serialises).
/// After a failed write (EPIPE, ENOSPC...) error() is set and later writes are
/// dropped.
class fd_writer {
 public:
  fd_writer() noexcept = default;
  /// Writes to `fd`; closes it on destruction if `owned`.
  fd_writer(int fd, bool owned);
  fd_writer(const fd_writer&) = delete;
  fd_writer& operator=(const fd_writer&) = delete;
  fd_writer(fd_writer&& o) noexcept;
  fd_writer& operator=(fd_writer&& o) noexcept;
  ~fd_writer();

  [[nodiscard]] bool valid() const noexcept { return fd_ >= 0; }
  /// Appends `text` (the caller includes the "\n"); flushes when the buffer is
  /// full, or at once when the descriptor is a terminal. False after an error.
  bool write(std::string_view text);
  /// Writes out the buffer. Blocks until written. False after an error.
  bool flush();
  [[nodiscard]] bool pending() const noexcept { return !buf_.empty(); }
  [[nodiscard]] int error() const noexcept { return error_; }
  [[nodiscard]] bool is_tty() const noexcept { return tty_; }

 private:
  void close_() noexcept;
  int fd_ = -1;
  bool owned_ = false;
  bool tty_ = false;
  int error_ = 0;
  std::string buf_;
};

/// How a process ended, as far as a result tells: the worker's exit code or
/// signal (crashed), or for `exec` the command's.
struct process_end {
  std::optional<int> exit_code;
  std::optional<int> signal;
};
[[nodiscard]] process_end process_end_of(const procpool::result& r, bool is_exec);

/// An exec result (done, or failed with its output in the detail) whose
/// output was cut at --max-output.
[[nodiscard]] bool was_truncated(const procpool::result& r);

/// Appends the result line of an accepted tag (with "\n"):
///   {["tag_base64"],"tag","state","value"|"error":{"type","message"}[,"value"],["truncated"],
///    ["exit_code"|"signal"],"attempts",["attempt_errors"],
///    ["worker_pid","started_at","elapsed_ms"],"line"}
void format_result(std::string& out, const procpool::result& r, std::uint64_t line, bool is_exec);

/// Appends the result line of a rejected line (tag null when unknown).
void format_rejected(std::string& out, const std::optional<std::string>& tag, std::string_view type,
                     std::string_view message, std::uint64_t line);

/// GNU parallel's joblog columns.
inline constexpr std::string_view joblog_header =
    "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n";

/// Appends one joblog line for `r` (Seq is the input line number).
void format_joblog(std::string& out, const procpool::result& r, std::uint64_t line, bool is_exec,
                   std::string_view command);

/// The Command column of the joblog: for exec the argv, shell-quoted where
/// needed; otherwise the task name and its args as compact JSON.
[[nodiscard]] std::string joblog_command(std::string_view task,
                                         const std::vector<std::string>* argv,
                                         const std::string* args_json);

/// A refusal message from the pool, without the "pool::submit: " and
/// "tag '<tag>': " prefixes, the error code's own message that std::system_error
/// appends (`suffix`, at every level of nesting), and nlohmann's
/// "[json.exception...] " markers.
[[nodiscard]] std::string clean_message(std::string_view what, std::string_view tag = {},
                                        std::string_view suffix = {});

}  // namespace procpool::cli::detail
