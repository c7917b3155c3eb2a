// Job construction: the text of one input line becomes what `procpool run`
// submits to the pool (a job), or the reason it is refused (a rejection), or
// nothing (a tag --resume found done in an earlier run).
//
// Owns: the line parser and its reusable task_line, the set of tags seen so far
// (with the line each was first seen on; --resume's done tags), and the last
// task looked up in the registry. Threads: the main thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <procpool/procpool.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "builtins.hpp"
#include "input.hpp"
#include "tag_set.hpp"

namespace procpool::cli::detail {

/// One accepted line, ready for pool::submit.
struct job {
  task_line line;        ///< tag, task, the line's timeout and retries (args moved out)
  nlohmann::json args;   ///< the line's "args" as written (null: none), for pool::submit
  bool is_exec = false;  ///< the built-in exec: results carry the command's exit code or signal
  std::shared_ptr<const std::string> command;  ///< the joblog's Command column (with --joblog)
  std::shared_ptr<const std::string> label;    ///< --tag's line prefix (null: the tag)
};

/// Why a line is refused: its tag when it could be read, a type from
/// docs/cli.md, and a message.
struct rejection {
  std::optional<std::string> tag;
  std::string type;
  std::string message;
};

class job_builder {
 public:
  enum class verdict { submit, reject, skip };

  /// With `commands`, each job carries its joblog Command column.
  void set_joblog(bool commands) noexcept { commands_ = commands; }

  /// The tags seen so far; --resume fills in the done ones before the first line.
  [[nodiscard]] tag_set& seen() noexcept { return seen_; }

  /// Builds input line number `line` from its `text`: submit (see current()),
  /// reject (see rejected()) or skip.
  verdict build(std::string_view text, std::uint64_t line);

  /// Builds job number `line` of a command template: an exec of `argv`
  /// tagged `tag`. Submit, reject (a repeated tag) or skip (--resume).
  verdict build_exec(std::string tag, const std::vector<std::string>& argv, std::uint64_t line);

  [[nodiscard]] job& current() noexcept { return job_; }
  [[nodiscard]] const rejection& rejected() const noexcept { return rejection_; }

 private:
  verdict reject_(std::optional<std::string> tag, std::string type, std::string message);
  verdict finish_(std::uint64_t line);
  verdict check_tag_(std::uint64_t line);
  verdict shape_args_();
  void add_command_();

  line_parser parser_;
  line_error error_;
  std::optional<std::string> error_tag_;
  job job_;
  rejection rejection_;
  tag_set seen_;
  bool commands_ = false;
  std::string cached_task_;
  const procpool::detail::task_entry* cached_entry_ = nullptr;
  bool cached_is_exec_ = false;  ///< cached_task_ is our built-in exec
};

}  // namespace procpool::cli::detail
