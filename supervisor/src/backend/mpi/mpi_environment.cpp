// procpool::mpi::launcher_rank: the launcher's rank, from the environment,
// before (and without) MPI; the exit code of a job ended through MPI_Abort.
// Built with and without the MPI backend.
#include "backend/mpi/mpi_session.hpp"

#include <procpool/supervisor/mpi.hpp>

#include <atomic>
#include <cstdlib>
#include <initializer_list>

namespace procpool::mpi {
namespace {

std::atomic<int> abort_code{1};

}  // namespace

void set_abort_exit_code(int code) noexcept { abort_code.store(code); }

int launcher_rank() noexcept {
  // Open MPI, PMIx (srun --mpi=pmix, prterun), MPICH's Hydra, Slurm.
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"}) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') continue;
    char* end = nullptr;
    const long r = std::strtol(v, &end, 10);
    if (end != nullptr && *end == '\0' && r >= 0 && r < (1L << 30)) return static_cast<int>(r);
  }
  return -1;
}

}  // namespace procpool::mpi

namespace procpool::detail::mpi {

int abort_exit_code() noexcept { return ::procpool::mpi::abort_code.load(); }

}  // namespace procpool::detail::mpi
