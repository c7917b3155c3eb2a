// `procpool run`: sets the run up from its pieces, runs the three threads, and
// turns what happened into the summary and the exit code.
//
//   run_shared    the state the threads share and how it is guarded
//   run_input     the input (stdin or a file)       main thread
//   run_jobs      line text -> job or rejection     main thread
//   run_template  command template -> exec argvs    main thread
//   run_intake    read, submit, backpressure        main thread
//   run_results   result -> result/joblog line      the pool's callback thread
//   run_stdout    --stdout: a job's output as shown the pool's callback thread
//   run_output    output, --keep-order, joblog      any thread, under its mutex
//   run_resume    --resume's done tags              main thread, during set-up
//   run_stop      signals, stop levels, --halt
//   run_control   the control thread                control thread
//   run_progress  the progress line and the summary
//   results_dir   --results DIR: per-job files      workers (exec) and callbacks
//   exec_settings --max-output, --results in every worker (the pool's initializer)
//   tag_bytes     tag_base64 for tags that are not UTF-8
#include "run.hpp"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <exception>
#include <optional>
#include <procpool/procpool.hpp>
#include <procpool/supervisor/mpi.hpp>
#include <string>

#include "builtins.hpp"
#include "exec.hpp"
#include "results_dir.hpp"
#include "run_control.hpp"
#include "run_input.hpp"
#include "run_intake.hpp"
#include "run_jobs.hpp"
#include "run_progress.hpp"
#include "run_results.hpp"
#include "run_shared.hpp"
#include "run_template.hpp"

namespace procpool::cli::detail {
namespace {

class runner {
 public:
  runner(const run_options& o, template_jobs* tmpl)
      : template_(tmpl),
        shared_(o),
        progress_(o, shared_.counters, shared_.err),
        input_(o, shared_.err),
        results_(shared_) {}
  runner(const runner&) = delete;
  runner& operator=(const runner&) = delete;
  runner(runner&&) = delete;
  runner& operator=(runner&&) = delete;
  ~runner() = default;

  int execute();

 private:
  bool set_up_(const signal_guard& signals);
  void read_all_();
  void drain_();
  int finish_();
  [[nodiscard]] std::string truncated_note_() const;

  template_jobs* template_;  ///< with a command template: where jobs come from (else null)
  run_shared shared_;
  progress_display progress_;
  input_source input_;
  job_builder jobs_;
  result_handler results_;
  // Last: destroyed first, so no callback outlives what it uses.
  std::optional<procpool::pool> pool_;
};

int runner::execute() {
  const signal_guard signals;  // restored when the run is over
  if (!set_up_(signals)) return exit_usage;

  shared_.counters.started = std::chrono::steady_clock::now();
  control_thread control(shared_, progress_);
  control.start(*pool_);
  read_all_();
  drain_();
  control.stop();
  shared_.stop.take_pending_signals();
  const int code = finish_();
  // With --backend mpi and a rank lost, the pool's destructor ends the job
  // through MPI_Abort: with this run's exit code, not a code of its own.
  procpool::mpi::set_abort_exit_code(code);
  return code;
}

bool runner::set_up_(const signal_guard& signals) {
  if (!shared_.stop.open(signals.stop_signals())) {
    shared_.err.note("procpool: cannot set up signal handling: " + errno_text(errno));
    return false;
  }
  if (template_ == nullptr && !input_.open()) return false;
  if (!shared_.sink.open_output(jobs_.seen()) || !shared_.sink.open_joblog()) return false;
  progress_.set_input_size(input_.input_size());
  if (template_ != nullptr) progress_.set_job_count(template_->total());
  // Before the pool: forked workers inherit both, and the pool's initializer
  // (exec_settings.hpp) carries them to workers that start otherwise.
  set_exec_max_output(shared_.o.max_output);
  if (!shared_.o.results.empty()) {
    if (const std::string e = set_results_dir(shared_.o.results); !e.empty()) {
      shared_.err.note("procpool: " + e);
      return false;
    }
  }
  jobs_.set_joblog(shared_.sink.has_joblog());
  try {
    pool_.emplace(pool_options(shared_.o));
  } catch (const std::exception& e) {
    shared_.err.note(std::string("procpool: ") + e.what());
    return false;
  }
  results_.attach(*pool_);
  return true;
}

void runner::read_all_() {
  try {
    intake in(shared_, input_, jobs_, results_);
    if (template_ != nullptr) {
      in.run(*pool_, *template_);
    } else {
      in.run(*pool_);
    }
  } catch (const std::exception& e) {  // out of memory and the like: stop intake, drain
    shared_.err.note(std::string("procpool: ") + e.what() + "; no more lines are read");
    shared_.stop.mark_fatal();
    shared_.stop.request(1);
  }
}

// Every line read has been submitted, rejected or skipped: wait for the rest.
void runner::drain_() {
  try {
    pool_->close();
    pool_->join();
  } catch (const std::exception& e) {
    shared_.err.note(std::string("procpool: ") + e.what());
    shared_.stop.mark_fatal();
  }
}

int runner::finish_() {
  shared_.sink.finish();
  progress_.clear();
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - shared_.counters.started)
          .count();
  const int signal = shared_.stop.first_signal();
  const bool broken_pipe = shared_.sink.broken_pipe();
  if (!shared_.o.quiet) {
    shared_.err.note(progress_.summary(wall, signal, broken_pipe));
    for (const std::string& l : shared_.failures.lines()) shared_.err.note("procpool: " + l);
    if (!results_.truncated_tags().empty()) shared_.err.note(truncated_note_());
  }
  if (broken_pipe) return exit_broken_pipe;
  if (signal != 0) return 128 + signal;
  if (shared_.stop.halted()) {
    return shared_.o.halt.policy == halt_policy::now ? exit_halted_now : exit_halted_soon;
  }
  if (shared_.sink.failed() || shared_.stop.fatal() || shared_.counters.bad() != 0 ||
      (shared_.counters.truncated != 0 && !shared_.o.allow_truncation)) {
    return exit_not_all_done;
  }
  return exit_ok;
}

// Which tags lost output, so that they can be rerun with a larger --max-output.
std::string runner::truncated_note_() const {
  const std::uint64_t n = shared_.counters.truncated;
  std::string s = "procpool: " + std::to_string(n) + " exec task" + (n == 1 ? "" : "s") +
                  " had output cut at --max-output " + std::to_string(shared_.o.max_output) +
                  " bytes" + (shared_.o.allow_truncation ? " (allowed)" : "") + ":";
  for (const std::string& tag : results_.truncated_tags()) s += " '" + tag + "'";
  if (n > results_.truncated_tags().size()) {
    s += " and " + std::to_string(n - results_.truncated_tags().size()) + " more";
  }
  return s;
}

}  // namespace

int run(const run_options& opts) noexcept {
  try {
    // A template's sources are read before the run blocks SIGINT and SIGTERM:
    // a terminal's standard input may take a while, and Ctrl-C must still work.
    std::optional<template_jobs> tmpl;
    if (opts.tmpl.active) {
      tmpl.emplace(opts.tmpl);
      if (const std::string e = tmpl->open(); !e.empty()) {
        std::fprintf(stderr, "%s\n", e.c_str());
        return exit_usage;
      }
      if (opts.tmpl.dry_run) return print_template_jobs(*tmpl);
    }
    register_builtin_tasks();
    runner r(opts, tmpl ? &*tmpl : nullptr);
    return r.execute();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "procpool: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "procpool: unexpected error\n");
  }
  return exit_not_all_done;
}

}  // namespace procpool::cli::detail
