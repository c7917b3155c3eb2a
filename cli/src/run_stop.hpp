// Stopping `procpool run`. SIGINT/SIGTERM/SIGUSR1, --halt, a closed or failed output
// and fatal errors all come down to a stop level (1: stop reading input, cancel
// the queued tasks and wait for the running ones; 2: terminate the tasks too),
// which the control thread applies to the pool and which ends the main
// thread's reading. Level 1 cancels the queue instead of running it because a
// queue of --max-queue lines can hold far more work than anyone stopping a run
// wants to wait for; --resume reruns the cancelled lines.
//
// Owns: the signal mask and SIGPIPE disposition while the run lasts
// (signal_guard); the signalfd; the eventfd that wakes the control thread and
// the one that interrupts a blocked input read; the stop level, the first
// signal, the halted and fatal flags, the --halt failure counts.
// Threads: request(), line_ended(), mark_fatal() and the getters from any
// thread (atomics, eventfd writes); take_signals() and clear_wake() on the
// control thread only (it alone reads the signalfd and counts signals);
// take_pending_signals() on the main thread once the control thread has ended.
#pragma once

#include <atomic>
#include <csignal>
#include <cstdint>
#include <procpool/shared/detail/posix.hpp>
#include <string>
#include <string_view>

#include "run.hpp"
#include "run_console.hpp"

namespace procpool::cli::detail {

/// Blocks SIGINT, SIGTERM and SIGUSR1 (to be read from a signalfd; construct it before
/// any thread starts, so every thread inherits the mask) and ignores SIGPIPE
/// (so a closed output shows up as EPIPE). Restores both when destroyed.
class signal_guard {
 public:
  signal_guard();
  signal_guard(const signal_guard&) = delete;
  signal_guard& operator=(const signal_guard&) = delete;
  signal_guard(signal_guard&&) = delete;
  signal_guard& operator=(signal_guard&&) = delete;
  ~signal_guard();

  [[nodiscard]] const sigset_t& stop_signals() const noexcept { return stop_signals_; }

 private:
  sigset_t stop_signals_{};
  sigset_t old_mask_{};
  struct sigaction old_pipe_ {};
};

class stop_control {
 public:
  stop_control(const run_options& o, console& err) : o_(o), err_(err) {}

  /// Creates the signalfd for `signals` and the two eventfds. False on failure
  /// (errno says why).
  bool open(const sigset_t& signals);

  /// Raises the stop level to `level` (never lowers it) and wakes the control
  /// thread and a blocked input read.
  void request(int level) noexcept;
  [[nodiscard]] int level() const noexcept { return level_.load(); }

  /// A line ended (`ok`: done). Past --halt's failure threshold the run stops
  /// (level 1 for soon, 2 for now). Lines cancelled by a stop are not counted.
  void line_ended(bool ok, std::uint64_t line, std::string_view tag);
  /// --halt stopped the run.
  [[nodiscard]] bool halted() const noexcept { return halted_.load(); }

  /// Something went wrong that makes the run fail (exit code 1). True the
  /// first time.
  bool mark_fatal() noexcept { return !fatal_.exchange(true); }
  [[nodiscard]] bool fatal() const noexcept { return fatal_.load(); }

  /// The first SIGINT/SIGTERM received, or 0.
  [[nodiscard]] int first_signal() const noexcept { return first_signal_.load(); }

  /// Readable once the input must no longer be read (never consumed).
  [[nodiscard]] int stop_fd() const noexcept { return stop_fd_.get(); }
  /// Readable when the control thread has something to do (signals, a stop).
  [[nodiscard]] int signal_fd() const noexcept { return signal_fd_.get(); }
  [[nodiscard]] int wake_fd() const noexcept { return wake_fd_.get(); }
  /// Wakes the control thread.
  void wake() noexcept;

  /// Control thread: reads the signals that arrived. The first SIGINT or
  /// SIGTERM stops intake (level 1; with --backend mpi a SIGTERM terminates at
  /// once), the second terminates (level 2); SIGUSR1 only ever stops intake.
  void take_signals();
  /// Control thread: consumes the wake-ups.
  void clear_wake() noexcept;
  /// Main thread, after the control thread has ended: takes any SIGINT/SIGTERM
  /// still pending, so that restoring the mask does not deliver it.
  void take_pending_signals() noexcept;

 private:
  const run_options& o_;
  console& err_;
  procpool::detail::unique_fd signal_fd_;
  procpool::detail::unique_fd wake_fd_;  // consumed by the control thread
  procpool::detail::unique_fd stop_fd_;  // never consumed
  std::atomic<int> level_{0};
  std::atomic<int> first_signal_{0};
  std::atomic<bool> halted_{false};
  std::atomic<std::uint64_t> ended_{0};   // lines ended, for fail=N%
  std::atomic<std::uint64_t> failures_{0};
  std::atomic<bool> fatal_{false};
  int signals_seen_ = 0;  // the control thread's: SIGINT and SIGTERM

  /// SIGUSR1: level 1, however often it comes.
  void take_soft_stop_signal();
};

}  // namespace procpool::cli::detail
