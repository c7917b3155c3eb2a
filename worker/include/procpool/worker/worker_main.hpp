// The entry point of a spawned worker (options::start == start_method::spawn).
#pragma once

namespace procpool {

/// Call first thing in main() of any program that creates a process pool with
/// the spawn start method (or that serves as options::worker_executable):
///
///   int main(int argc, char** argv) {
///     procpool::run_worker_if_requested(argc, argv);
///     ...
///   }
///
/// In a normal run it returns at once. In a process the pool started as a
/// worker it attaches to the pool's shared memory, runs the worker loop and
/// exits; it never returns there. Not thread-safe: call it before starting
/// threads.
void run_worker_if_requested(int argc, char** argv);

namespace detail {
/// The flag that marks a spawned worker's command line.
inline constexpr const char* worker_flag = "--procpool-worker";
/// Set in a spawned worker's environment until run_worker_if_requested reads it;
/// a pool refuses to start in a process that still has it (the hook was not called).
inline constexpr const char* worker_env = "PROCPOOL_WORKER";
/// Descriptors a spawned worker finds its resources on.
inline constexpr int worker_segment_fd = 3;
inline constexpr int worker_wake_fd = 4;
inline constexpr int worker_shared_state_fd = 5;
}  // namespace detail

}  // namespace procpool
