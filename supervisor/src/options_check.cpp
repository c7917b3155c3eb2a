// pool::pool's checks of its options, before anything is set up.
#include "arguments.hpp"

#include <procpool/worker/worker_main.hpp>

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace procpool::detail {
namespace {

void check_sizes(const options& opts, const std::string& where) {
  if (opts.workers <= 0 || opts.workers > 4096) {
    throw error(errc::invalid_argument, where + ": options::workers must be between 1 and 4096 (got " +
                                            std::to_string(opts.workers) + ")");
  }
  if (opts.mpi_prefetch < 0 || opts.mpi_prefetch > 4096) {
    throw error(errc::invalid_argument, where + ": options::mpi_prefetch must be between 0 and 4096 (got " +
                                            std::to_string(opts.mpi_prefetch) + ")");
  }
  if (opts.mpi_heartbeat_limit.count() < 0) {
    throw error(errc::invalid_argument, where + ": options::mpi_heartbeat_limit must not be negative");
  }
  if (opts.max_queue == 0 || opts.max_queue > (std::size_t{1} << 24U)) {
    throw error(errc::invalid_argument, where + ": options::max_queue must be between 1 and 16777216 (got " +
                                            std::to_string(opts.max_queue) + ")");
  }
  if (opts.max_payload_bytes == 0 || opts.max_payload_bytes > (std::size_t{1} << 30U)) {
    throw error(errc::invalid_argument,
                where + ": options::max_payload_bytes must be between 1 and 1073741824 (got " +
                    std::to_string(opts.max_payload_bytes) + ")");
  }
}

void check_durations(const options& opts, const std::string& where) {
  if (opts.start_timeout.count() <= 0) {
    throw error(errc::invalid_argument, where + ": options::start_timeout must be positive");
  }
  if (opts.terminate_grace.count() < 0) {
    throw error(errc::invalid_argument, where + ": options::terminate_grace must not be negative");
  }
  if (opts.kill_grace.count() < 0 || opts.task_timeout.count() < 0 || opts.retries < 0) {
    throw error(errc::invalid_argument,
                where + ": options::kill_grace, task_timeout and retries must not be negative");
  }
  if (opts.max_start_failures < 0 || opts.start_failure_window.count() < 0) {
    throw error(errc::invalid_argument,
                where + ": options::max_start_failures and start_failure_window must not be negative");
  }
}

void check_initializer(const options& opts, const std::string& where) {
  if (opts.initializer.empty()) return;
  const task_entry* e = find_task(opts.initializer);
  if (e == nullptr) {
    throw error(errc::unknown_task, where + ": options::initializer names unknown task '" + opts.initializer + "'");
  }
  (void)positional_args(*e, opts.initializer_args, [&] { return where + ": options::initializer_args"; });
}

}  // namespace

void validate_options(const options& opts) {
  const std::string where = "pool::pool";
  if (std::getenv(worker_env) != nullptr) {
    throw error(errc::spawn_failed,
                where + ": this process was started as a procpool worker (" + worker_env +
                    " is set) but its main() did not call procpool::run_worker_if_requested(argc, argv) first");
  }
  check_sizes(opts, where);
  check_durations(opts, where);
  if (opts.mode == mode::process && opts.start == start_method::spawn && !opts.worker_executable.empty() &&
      ::access(opts.worker_executable.c_str(), X_OK) != 0) {
    throw error(errc::spawn_failed, where + ": options::worker_executable '" + opts.worker_executable +
                                        "' is not an executable file: " + std::strerror(errno));
  }
  if (opts.mode == mode::thread && (opts.worker_memory_limit != 0 || opts.worker_cpu_seconds != 0)) {
    throw error(errc::invalid_argument, where + ": options::worker_memory_limit and worker_cpu_seconds "
                                                "need process mode (threads share one process)");
  }
  check_initializer(opts, where);
}

}  // namespace procpool::detail
