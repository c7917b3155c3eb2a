// `procpool run`'s counts of lines and results, for the progress line, the
// summary and the exit code.
//
// Owns: nothing but the numbers. Threads: any. Every field is an atomic
// updated with relaxed ordering: each is read on its own (a progress line may
// mix counts from slightly different moments), and the final reads come after
// the threads that write them were joined.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <procpool/shared/result.hpp>

namespace procpool::cli::detail {

struct run_counters {
  // Written by the main thread (the input side).
  std::atomic<std::uint64_t> lines_read{0};
  std::atomic<std::uint64_t> bytes_read{0};
  std::atomic<bool> input_done{false};  ///< every line of the input was read
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> skipped{0};  ///< --resume: done in an earlier run
  std::atomic<std::uint64_t> rejected{0};
  // Written by the callback thread, and by the main thread for lines that
  // never started (cancelled).
  std::atomic<std::uint64_t> done{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> timed_out{0};
  std::atomic<std::uint64_t> crashed{0};
  std::atomic<std::uint64_t> cancelled{0};
  std::atomic<std::uint64_t> truncated{0};  ///< exec results whose output was cut
  /// When the run started; set by the main thread before the other threads start.
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

  /// Counts one result of the pool in its state's counter.
  void count(task_state s) noexcept {
    switch (s) {
      case task_state::done:
        done.fetch_add(1, std::memory_order_relaxed);
        break;
      case task_state::failed:
        failed.fetch_add(1, std::memory_order_relaxed);
        break;
      case task_state::timed_out:
        timed_out.fetch_add(1, std::memory_order_relaxed);
        break;
      case task_state::crashed:
        crashed.fetch_add(1, std::memory_order_relaxed);
        break;
      case task_state::cancelled:
      case task_state::queued:
      case task_state::running:
        cancelled.fetch_add(1, std::memory_order_relaxed);
        break;
    }
  }
  /// Lines that ended other than done (finished lines: done + bad()).
  [[nodiscard]] std::uint64_t bad() const noexcept {
    return failed + timed_out + crashed + cancelled + rejected;
  }
};

}  // namespace procpool::cli::detail
