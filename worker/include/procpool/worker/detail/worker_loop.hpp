// The worker loop, shared by process workers (after fork) and thread workers.
#pragma once

#include <procpool/shared/detail/layout.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

namespace procpool::detail {

class shared_state_arena;

/// Exit code of a worker whose initializer failed (the reason is in its row).
inline constexpr int exit_start_failed = 70;
/// Exit code of a worker that found the queue lock unrecoverable.
inline constexpr int exit_queue_poisoned = 74;

struct worker_config {
  segment_header* header = nullptr;
  std::uint32_t index = 0;   ///< the worker's row
  int wake_fd = -1;          ///< eventfd that wakes the supervisor's collector
  int pid = 0;               ///< reported as worker_pid
  std::string initializer;   ///< task run once before taking work ("" for none)
  nlohmann::json initializer_args;  ///< positional array
  std::size_t max_tasks = 0;        ///< exit after this many tasks (0: never)
  std::size_t memory_limit = 0;     ///< RLIMIT_AS of a worker process (0: none)
  std::size_t cpu_seconds = 0;      ///< RLIMIT_CPU of a worker process (0: none)
  /// The pool's shared-state arena (task_context::array/dict/...); valid in the
  /// worker: inherited mapping (fork), the same object (thread), or attached (spawn).
  shared_state_arena* shared_state = nullptr;
};

/// Runs initializer, then claims -> runs -> publishes until the queue is
/// stopping, or closing and empty, or max_tasks is reached. Never throws.
/// Returns the exit code: 0, or exit_start_failed.
int run_worker(const worker_config& config) noexcept;

/// Applies memory_limit / cpu_seconds to the calling process (a worker process).
void apply_resource_limits(const worker_config& config) noexcept;

/// Sets the heap thresholds of the calling process (a worker process only:
/// never the supervisor's, which is the user's) so that payloads freed by one
/// task are reused by the next instead of trimmed and grown again.
void configure_worker_heap() noexcept;

/// Wakes the collector if it sleeps (one write to the eventfd, at most).
void wake_collector(segment_header* h, int wake_fd) noexcept;

/// "std::runtime_error" for a std::runtime_error, and so on.
[[nodiscard]] std::string demangled_type_name(const std::type_info& t);

}  // namespace procpool::detail
