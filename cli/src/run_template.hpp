// Command templates: `procpool run [options] -- CMD ARG... ::: A B :::: FILE`
// turns each combination of the sources' arguments into one `exec` job, its
// argv built from the command with the replacement strings filled in ({},
// {.}, {/}, {//}, {/.}, {#}, {1}, {2}...). No shell is involved: arguments are
// bytes and reach exec unchanged (JSON strings here only carry them; MessagePack
// does not check UTF-8).
//
// Owns: the command, the sources' arguments (read whole when the run starts:
// combining sources needs all but the first anyway), and the position in the
// combination sequence. Threads: the main thread only.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace procpool::cli::detail {

struct template_source {
  bool from_file = false;           ///< `:::: FILE` (else `::: ARG...`)
  std::string path;                 ///< the file ("-": standard input)
  std::vector<std::string> values;  ///< the arguments (read from `path` when from_file)
};

struct template_spec {
  bool active = false;               ///< `--`, `:::` or `::::` was given
  std::vector<std::string> command;  ///< CMD ARG... (may hold replacement strings)
  std::vector<template_source> sources;  ///< none: lines of standard input
  bool link = false;                 ///< --link: pair the sources element by element
  bool null_separated = false;       ///< -0: arguments end with NUL, not newline
  bool dry_run = false;              ///< print each job's argv, run nothing
  std::string tagstring;             ///< empty: the job number
};

/// Takes the template part off `args` (argv of `procpool run ...`): from the
/// first `--`, `:::` or `::::` on. An error text, or empty.
[[nodiscard]] std::string split_template_args(std::vector<std::string>& args, template_spec& t);

/// The jobs of a template, one at a time.
class template_jobs {
 public:
  explicit template_jobs(template_spec spec) : t_(std::move(spec)) {}

  /// Reads the `::::` files (and standard input when there is no source).
  /// An error text, or empty.
  [[nodiscard]] std::string open();

  /// The next job's tag and argv; false after the last.
  bool next(std::string& tag, std::vector<std::string>& argv);

  /// The last job's arguments joined by spaces (what {} stands for).
  [[nodiscard]] std::string arguments() const;

  /// How many jobs the template makes (known once open() has read the sources).
  [[nodiscard]] std::uint64_t total() const noexcept { return total_; }

 private:
  [[nodiscard]] std::string fill_(const std::string& text) const;

  template_spec t_;
  std::vector<std::size_t> index_;  ///< the current argument of each source
  std::vector<const std::string*> args_;
  std::uint64_t number_ = 0;        ///< jobs produced so far
  std::uint64_t total_ = 0;
  bool placeholders_ = false;       ///< the command has a replacement string
};

/// --dry-run: prints each job's argv (of opened `jobs`), shell-quoted, one
/// line per job. The exit code.
[[nodiscard]] int print_template_jobs(template_jobs& jobs);

}  // namespace procpool::cli::detail
