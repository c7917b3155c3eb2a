// Where `procpool run`'s result lines and joblog lines go, and in what order.
//
// Owns: the output and joblog writers, the --keep-order buffer (results held
// back until the lines before them are written) and the reading window that
// bounds it, the time of the last flush, and the flags "output closed by its
// reader" (EPIPE) and "output failed".
// Threads: emit() from the main thread (lines that never reach the pool) and
// the pool's callback thread (results); wait_window() on the main thread;
// periodic_flush() on the control thread; open_*() and finish() on the main
// thread while no other thread runs. Everything but the two flags is guarded
// by the sink's mutex. A note or a stop request may be made while it is held
// (the console's mutex is taken inside it, never the other way round).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "output.hpp"
#include "run.hpp"
#include "run_console.hpp"
#include "run_stop.hpp"
#include "tag_set.hpp"

namespace procpool::cli::detail {

/// Progress redraws, the control thread's wake-ups and the joblog's flushes
/// when nothing else flushes them.
inline constexpr auto tick = std::chrono::milliseconds{200};

class result_sink {
 public:
  result_sink(const run_options& o, console& err, stop_control& stop);

  /// Opens --output (or takes standard output). With --resume, fills `done`
  /// with the tags the file already has done lines for. False after a note.
  /// With --stdout, standard output gets the jobs' output and --output (if
  /// any) the result lines.
  bool open_output(tag_set& done);
  /// Opens --joblog, if any, and writes its header to an empty file. False
  /// after a note.
  bool open_joblog();
  [[nodiscard]] bool has_joblog() const noexcept { return joblog_.valid(); }

  /// Writes the result line of input line `line` (empty: the line has none,
  /// but --keep-order must move past it) and its joblog line (empty: none). A
  /// closed output terminates the run; a failed one is noted and terminates it.
  /// With --stdout, `text` is the job's output for standard output and
  /// `record` its result line for --output (written as soon as it is here).
  void emit(std::uint64_t line, std::string_view text, std::string_view joblog_text,
            std::string_view record = {});

  /// --results: writes `text` (the result line) as the tag's result.json. A
  /// failure is noted once and makes the run fail. Any thread; no lock held.
  void write_job_result(std::string_view tag, std::string_view text);

  /// --keep-order: blocks until `line` is within the window of lines that may
  /// be held back.
  void wait_window(std::uint64_t line);

  /// Flushes the output and the joblog if the last flush is a tick ago.
  void periodic_flush();

  /// Flushes everything at the end, noting what could not be written.
  void finish();

  [[nodiscard]] bool broken_pipe() const noexcept { return broken_pipe_.load(); }
  [[nodiscard]] bool failed() const noexcept { return output_failed_.load(); }

 private:
  bool open_file_(tag_set& done, fd_writer& into);
  void put_(std::string_view s, bool& pipe_now, bool& failed_now);
  void write_through_(bool& pipe_now, bool& failed_now);
  void put_in_order_(std::uint64_t line, std::string_view text, bool& pipe_now, bool& failed_now);

  const run_options& o_;
  console& err_;
  stop_control& stop_;

  std::mutex m_;  // guards everything below but the atomics
  fd_writer out_;
  fd_writer record_;  // --stdout with --output: the result lines
  fd_writer joblog_;
  std::string out_name_ = "standard output";
  std::chrono::steady_clock::time_point last_flush_ = std::chrono::steady_clock::now();
  std::uint64_t next_emit_ = 1;    // keep-order: the line to write next
  std::vector<std::string> held_;  // keep-order ring, by line % size
  std::vector<char> held_present_;
  std::uint64_t window_ = 0;
  std::condition_variable window_cv_;
  bool window_waiting_ = false;

  std::atomic<bool> broken_pipe_{false};
  std::atomic<bool> output_failed_{false};
  std::atomic<bool> results_failed_{false};
};

}  // namespace procpool::cli::detail
