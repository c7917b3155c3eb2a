// The state `procpool run`'s three threads share, in one place.
//
//   main thread      sets the run up, reads and checks the input lines and
//                    submits them (run_intake, run_jobs, run_input), drains the
//                    pool, writes the summary
//   callback thread  the pool's: turns each result into its result line and
//                    joblog line (run_results)
//   control thread   reads SIGINT/SIGTERM, applies stop requests to the pool,
//                    flushes the output, redraws the progress line (run_control)
//
// What each thread owns alone lives in its own piece. What they share is
// below, each part with its own synchronisation:
//
//   err       the console (stderr): its own mutex, always taken last
//   counters  atomics (relaxed)
//   stop      atomics and eventfds
//   sink      the result sink's mutex (it may take the console's inside it)
//   failures  its own mutex, taken only for a line that did not end done
//
// Everything here is set up by the main thread before the other threads start
// and read back by it after they have ended.
#pragma once

#include "run.hpp"
#include "run_console.hpp"
#include "run_counters.hpp"
#include "run_failures.hpp"
#include "run_output.hpp"
#include "run_stop.hpp"

namespace procpool::cli::detail {

struct run_shared {
  explicit run_shared(const run_options& options)
      : o(options), stop(options, err), sink(options, err, stop) {}

  const run_options& o;
  console err;
  run_counters counters;
  stop_control stop;
  result_sink sink;
  failure_list failures;
};

}  // namespace procpool::cli::detail
