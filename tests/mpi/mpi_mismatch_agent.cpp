// The other program of mpi_mismatch_test: one task more, so its registry
// differs from rank 0's.
#include <procpool/procpool.hpp>
#include <procpool/supervisor/mpi.hpp>

PROCPOOL_TASK(mpi_only_on_agents, [](int x) { return x + 1; });

int main(int argc, char** argv) {
  procpool::mpi::serve_if_agent(argc, argv);
  return 2;  // rank 0 of this job is mpi_mismatch_test
}
