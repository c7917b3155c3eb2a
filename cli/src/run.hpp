// `procpool run`: JSON Lines in, one JSON result line per input line out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <procpool/supervisor/options.hpp>
#include <string>

#include "run_template.hpp"

namespace procpool::cli::detail {

enum class halt_policy {
  off,   ///< run everything
  soon,  ///< at the failure threshold: stop intake, cancel the queued tasks, wait for the running
  now,   ///< at the failure threshold: terminate (queued and running tasks end cancelled)
};

/// --halt's value: when and how a run stops on failures (GNU parallel's
/// `soon,fail=N`, `now,fail=N`, `soon,fail=N%`).
struct halt_rule {
  halt_policy policy = halt_policy::off;
  std::uint64_t fail_count = 1;  ///< stop at this many lines not done (when fail_percent is 0)
  double fail_percent = 0;       ///< >0: stop when this share of the ended lines is not done
};

/// Parses --halt's value ("never", "soon,fail=N", "now,fail=N", "soon,fail=N%",
/// "now,fail=N%"). An error text, or empty when `text` is valid.
[[nodiscard]] std::string parse_halt(const std::string& text, halt_rule& rule);

struct run_options {
  procpool::mode mode = procpool::mode::process;
  procpool::backend_kind backend = procpool::backend_kind::local;  ///< --backend
  int workers = 1;
  std::size_t max_queue = 1024;
  double timeout_seconds = 0;  ///< 0: no limit
  double heartbeat_limit_seconds = 10;  ///< --backend mpi: a rank silent this long is lost (0: never)
  int retries = 0;
  std::size_t max_tasks_per_worker = 0;
  std::string input = "-";  ///< "-": standard input
  std::string output;       ///< empty: standard output
  std::string joblog;       ///< empty: none
  bool resume = false;
  bool keep_order = false;
  halt_rule halt;
  int progress = -1;  ///< -1: when stderr is a terminal; 0 off; 1 on
  bool quiet = false;
  std::size_t max_line_bytes = std::size_t{1} << 20U;
  std::size_t max_output = std::size_t{1} << 20U;  ///< exec: bytes kept of each stream
  bool allow_truncation = false;  ///< exec output cut at max_output does not fail the run
  std::string results;            ///< --results DIR: per-job files (empty: none)
  bool stdout_mode = false;       ///< --stdout: jobs' output on stdout, result lines to --output
  bool tag_lines = false;         ///< --tag: prefix each output line with the job's arguments
  template_spec tmpl;             ///< a command template (active): jobs from it, not from `input`
};

/// Exit codes (also in docs/cli.md and cli.hpp).
inline constexpr int exit_ok = 0;
inline constexpr int exit_not_all_done = 1;
inline constexpr int exit_usage = 2;
inline constexpr int exit_halted_soon = 3;  // --halt soon: the running tasks finished
inline constexpr int exit_halted_now = 4;   // --halt now: the running tasks were stopped
inline constexpr int exit_broken_pipe = 128 + 13;  // as if killed by SIGPIPE

/// Runs the batch. Blocks until every line read has its result line. Never
/// throws; returns the exit code.
int run(const run_options& opts) noexcept;

}  // namespace procpool::cli::detail
