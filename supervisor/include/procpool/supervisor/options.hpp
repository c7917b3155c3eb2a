// procpool::options: everything a pool is configured with, in one aggregate.
//
//   procpool::pool pool({.mode = procpool::mode::process, .workers = 8});
//   procpool::pool pool(procpool::options{}.with_workers(4).with_max_queue(64));
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <string>
#include <thread>

namespace procpool {

/// Where tasks run: forked worker processes, or threads of this process.
enum class mode { thread, process };

[[nodiscard]] inline int default_worker_count() noexcept {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

struct options {
  /// Thread or process workers. Same interface, same semantics, except that a
  /// crashing task takes the whole process down in thread mode and a stuck task
  /// cannot be killed there.
  procpool::mode mode = procpool::mode::process;
  /// The cap on live workers; they start lazily. Must be >= 1.
  int workers = default_worker_count();
  /// The most tasks queued and not yet claimed by a worker. submit() blocks past
  /// it, try_submit() refuses with errc::full. Must be >= 1.
  std::size_t max_queue = 1024;
  /// The largest encoded argument or result payload, in bytes. A larger one is
  /// refused at submit (errc::too_large); a larger result fails its task.
  std::size_t max_payload_bytes = std::size_t{1} << 20U;
  /// A registered task run once in each worker before it takes work (empty: none).
  /// If it throws, the worker exits and counts as a start failure.
  std::string initializer{};
  /// Arguments of the initializer, as for submit.
  nlohmann::json initializer_args{};
  /// Recycle a worker after this many tasks (0: never).
  std::size_t max_tasks_per_worker = 0;
  /// terminate(): how long running tasks get between the stop request (SIGTERM in
  /// process mode) and SIGKILL.
  std::chrono::milliseconds terminate_grace{1000};
  /// Start failures (initializer throws, worker dies before it is ready) tolerated
  /// within start_failure_window; one more puts the pool in its failed state.
  int max_start_failures = 5;
  std::chrono::milliseconds start_failure_window{10000};

  options& with_mode(procpool::mode m) { mode = m; return *this; }
  options& with_workers(int n) { workers = n; return *this; }
  options& with_max_queue(std::size_t n) { max_queue = n; return *this; }
  options& with_max_payload_bytes(std::size_t n) { max_payload_bytes = n; return *this; }
  options& with_initializer(std::string name, nlohmann::json args = nullptr) {
    initializer = std::move(name);
    initializer_args = std::move(args);
    return *this;
  }
  options& with_max_tasks_per_worker(std::size_t n) { max_tasks_per_worker = n; return *this; }
  options& with_terminate_grace(std::chrono::milliseconds g) { terminate_grace = g; return *this; }
};

}  // namespace procpool
