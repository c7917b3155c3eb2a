// The process's MPI session and what every rank says about itself: MPI is
// initialised once per process (it cannot be initialised again after
// MPI_Finalize), with MPI_THREAD_SERIALIZED: the pool's MPI thread makes the
// calls, the constructing and destroying thread only before it starts and
// after it ended.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace procpool::detail::mpi {

struct world {
  int rank = 0;
  int size = 1;
};

/// Initialises MPI if this process has not yet (`where` names the caller in
/// errors). Throws procpool::error if MPI was finalized already or does not
/// give MPI_THREAD_SERIALIZED. The first call registers an exit hook that
/// flushes stdio and finalizes, for a process that leaves with MPI still open.
[[nodiscard]] world init_once(const char* where);
/// MPI_Finalize, once. Never throws.
void finalize() noexcept;

/// The job's number of ranks as the launcher's environment gives it (Open
/// MPI, MPICH's Hydra, a Slurm job step), or -1 when it does not say. Does not
/// initialise MPI.
[[nodiscard]] int launcher_world_size() noexcept;

/// The code of an MPI_Abort that ends the job (procpool::mpi::set_abort_exit_code).
[[nodiscard]] int abort_exit_code() noexcept;

/// This host's name.
[[nodiscard]] std::string host_name();
/// A hash of the task registry: names and parameter types. Ranks running
/// different binaries differ here.
[[nodiscard]] std::uint64_t registry_hash();
/// procpool's version.
[[nodiscard]] const char* version() noexcept;

/// Polling without burning a core: sleeps from about 1 us, doubling up to
/// 1 ms while nothing happens; reset() after work.
class backoff {
 public:
  void reset() noexcept { wait_ = std::chrono::microseconds(1); }
  /// The next wait (and doubles the one after it).
  [[nodiscard]] std::chrono::microseconds next() noexcept;
  /// Sleeps next().
  void idle() noexcept;

 private:
  std::chrono::microseconds wait_{1};
};

}  // namespace procpool::detail::mpi
