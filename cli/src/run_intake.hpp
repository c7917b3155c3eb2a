// Intake: the main thread's loop. It reads the input line by line, builds
// each line into a job and submits it, and writes the result line of every
// line that never reaches the pool (rejected, not started, skipped).
// Backpressure: pool::submit blocks while the pool's queue (--max-queue) is
// full, and with --keep-order reading waits while the oldest unwritten result
// is a whole window behind; so the input is read only as fast as tasks finish.
//
// Owns: the formatting buffer of those result lines. Threads: the main thread
// only (it shares the counters, the stop control and the sink, see
// run_shared.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <procpool/procpool.hpp>
#include <string>
#include <string_view>

#include "run_input.hpp"
#include "run_jobs.hpp"
#include "run_results.hpp"
#include "run_shared.hpp"
#include "run_template.hpp"

namespace procpool::cli::detail {

/// The pool's options for the run.
[[nodiscard]] procpool::options pool_options(const run_options& o);

class intake {
 public:
  intake(run_shared& shared, input_source& input, job_builder& jobs, result_handler& results)
      : s_(shared), input_(input), jobs_(jobs), results_(results) {}

  /// Reads and submits until the input ends or the run is stopped. Throws
  /// what building or submitting a line throws (std::bad_alloc and the like).
  void run(procpool::pool& pool);

  /// The same for the jobs of a command template.
  void run(procpool::pool& pool, template_jobs& jobs);

 private:
  void line_(procpool::pool& pool, std::string_view text, std::uint64_t line);
  void dispatch_(procpool::pool& pool, job_builder::verdict v, std::uint64_t line);
  void submit_(procpool::pool& pool, job& j, std::uint64_t line);
  void refused_(const procpool::error& ex, const std::string& tag, std::uint64_t line);
  void reject_(const std::optional<std::string>& tag, std::string_view type,
               std::string_view message, std::uint64_t line);
  void not_started_(const std::string& tag, std::uint64_t line, std::string_view type,
                    std::string_view message);
  void emit_line_(std::uint64_t line);

  run_shared& s_;
  input_source& input_;
  job_builder& jobs_;
  result_handler& results_;
  std::string buf_;
};

}  // namespace procpool::cli::detail
