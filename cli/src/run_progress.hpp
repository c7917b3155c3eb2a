// What `procpool run` says about how far it got: the progress line (a bar,
// done/total, rate, ETA, failures) while it runs, and the summary at the end.
//
// Owns: whether the progress line is shown and the input size it estimates the
// total from. Threads: draw() on the control thread; clear() and summary() on
// the main thread once the control thread has ended. It only reads the
// counters (atomics) and writes through the console.
#pragma once

#include <cstdint>
#include <string>

#include "run.hpp"
#include "run_console.hpp"
#include "run_counters.hpp"

namespace procpool::cli::detail {

class progress_display {
 public:
  progress_display(const run_options& o, const run_counters& counters, console& err);

  [[nodiscard]] bool enabled() const noexcept { return enabled_; }
  /// The size of the input file, when it is a regular one (else 0).
  void set_input_size(std::uint64_t bytes) noexcept { input_size_ = bytes; }
  /// The number of jobs, when known before they are read (a command template).
  void set_job_count(std::uint64_t jobs) noexcept { job_count_ = jobs; }

  /// Redraws the progress line (when enabled).
  void draw();
  /// Wipes the progress line (when enabled).
  void clear();

  /// The summary line: counts per state, wall time, rate, and how the run was
  /// cut short (`signal`: the first SIGINT/SIGTERM or 0).
  [[nodiscard]] std::string summary(double wall_seconds, int signal, bool broken_pipe) const;

 private:
  [[nodiscard]] std::string line_() const;

  const run_options& o_;
  const run_counters& c_;
  console& err_;
  bool enabled_ = false;
  std::uint64_t input_size_ = 0;
  std::uint64_t job_count_ = 0;  ///< 0: not known ahead
};

}  // namespace procpool::cli::detail
