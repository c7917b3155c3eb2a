// The control thread of `procpool run`: it reads SIGINT/SIGTERM, applies the
// stop level to the pool (1: close and cancel the queued tasks, 2: terminate,
// each once), flushes the
// output every tick and redraws the progress line.
//
// Owns: the thread, the stop level already applied, and the flag that ends it.
// Threads: start() and stop() on the main thread; the loop on its own thread.
#pragma once

#include <atomic>
#include <procpool/procpool.hpp>
#include <thread>

#include "run_progress.hpp"
#include "run_shared.hpp"

namespace procpool::cli::detail {

class control_thread {
 public:
  control_thread(run_shared& shared, progress_display& progress)
      : s_(shared), progress_(progress) {}
  control_thread(const control_thread&) = delete;
  control_thread& operator=(const control_thread&) = delete;
  control_thread(control_thread&&) = delete;
  control_thread& operator=(control_thread&&) = delete;
  ~control_thread() { stop(); }

  void start(procpool::pool& pool);
  /// Ends the thread and waits for it.
  void stop();

 private:
  void loop_(procpool::pool& pool);
  void apply_stop_(procpool::pool& pool);

  run_shared& s_;
  progress_display& progress_;
  std::thread thread_;
  std::atomic<bool> quit_{false};
  int applied_ = 0;  // the control thread's: the stop level applied to the pool
};

}  // namespace procpool::cli::detail
