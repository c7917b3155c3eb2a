// `procpool run`: JSON Lines in, one JSON result line per input line out.
#pragma once

#include <cstddef>
#include <procpool/supervisor/options.hpp>
#include <string>

namespace procpool::cli::detail {

enum class halt_policy {
  off,   ///< run everything
  soon,  ///< after the first line that does not end done: stop intake, drain (close)
  now,   ///< after the first line that does not end done: terminate
};

struct run_options {
  procpool::mode mode = procpool::mode::process;
  int workers = 1;
  std::size_t max_queue = 1024;
  double timeout_seconds = 0;  ///< 0: no limit
  int retries = 0;
  std::size_t max_tasks_per_worker = 0;
  std::string input = "-";  ///< "-": standard input
  std::string output;       ///< empty: standard output
  std::string joblog;       ///< empty: none
  bool resume = false;
  bool keep_order = false;
  halt_policy halt = halt_policy::off;
  int progress = -1;  ///< -1: when stderr is a terminal; 0 off; 1 on
  bool quiet = false;
  std::size_t max_line_bytes = std::size_t{1} << 20U;
};

/// Exit codes (also in docs/cli.md and cli.hpp).
inline constexpr int exit_ok = 0;
inline constexpr int exit_not_all_done = 1;
inline constexpr int exit_usage = 2;
inline constexpr int exit_broken_pipe = 128 + 13;  // as if killed by SIGPIPE

/// Runs the batch. Blocks until every line read has its result line. Never
/// throws; returns the exit code.
int run(const run_options& opts) noexcept;

}  // namespace procpool::cli::detail
