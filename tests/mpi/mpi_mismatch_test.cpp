// Rank 0 of a job whose other ranks run a different program (another task
// registry): making the pool is refused, naming the rank and the registry.
// Run as `mpiexec -n 1 mpi_mismatch_test : -n 2 mpi_mismatch_agent`; the test
// passes on the line this program prints when the refusal was the right one
// and it could go on after it (the refused ranks wait for it to end).
#include "mpi_test.hpp"

#include <string>

int main(int argc, char** argv) {
  procpool::mpi::serve_if_agent(argc, argv);
  try {
    procpool::pool pool(procpool_mpi_test::mpi_options());
    std::fprintf(stderr, "mpi_mismatch_test: the pool was made, the mismatch not refused\n");
    return 1;
  } catch (const procpool::error& e) {
    const std::string what = e.what();
    std::fprintf(stderr, "mpi_mismatch_test: refused: %s\n", what.c_str());
    if (what.find("task registry") == std::string::npos || what.find("rank 1") == std::string::npos) return 1;
  }
  // The refused ranks must not end the job before this rank is done: here it
  // goes on with a local pool (starting a worker takes long enough for a
  // launcher that ends the job on their exit to kill this rank first), and
  // the line the test passes on is printed last, to buffered stdout.
  procpool::pool local(procpool::options{}.with_workers(1));
  const int squared = local.apply("after_refusal", "mpi_square", 7).get<int>();
  if (squared != 49) return 1;
  std::printf("registry mismatch refused\n");
  return 0;
}
