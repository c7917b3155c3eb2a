// A build without MPI (PROCPOOL_WITH_MPI off): options::backend = mpi is
// refused, and an agent rank says why and exits.
#include "backend/mpi/mpi_backend_factory.hpp"

#include <procpool/shared/error.hpp>
#include <procpool/supervisor/mpi.hpp>
#include <procpool/worker/worker_main.hpp>

#include <cstdio>
#include <cstdlib>

namespace procpool::detail::mpi {

std::unique_ptr<backend> make_mpi_backend(const options& /*opts*/) {
  throw error(errc::invalid_argument,
              "pool::pool: options::backend = mpi, but procpool was built without MPI (PROCPOOL_WITH_MPI=OFF)");
}

}  // namespace procpool::detail::mpi

namespace procpool::mpi {

bool available() noexcept { return false; }

void serve_if_agent(int argc, char** argv) {
  run_worker_if_requested(argc, argv);
  if (launcher_rank() <= 0) return;
  std::fprintf(stderr, "procpool: rank %d: procpool was built without MPI (PROCPOOL_WITH_MPI=OFF)\n",
               launcher_rank());
  std::exit(1);
}

}  // namespace procpool::mpi
