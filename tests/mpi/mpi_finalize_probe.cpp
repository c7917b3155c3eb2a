// Linked into a test whose job ends through MPI_Abort (a rank was lost): the
// MPI profiling interface (PMPI) lets it see whether an agent rank entered
// MPI_Finalize before rank 0 aborted. It must not: MPI_Finalize's closing fence
// waits for the lost rank, and Open MPI's launcher, tearing down a job with that
// fence pending, may crash or hang instead of exiting with the abort's code.
//
// An agent entering MPI_Finalize leaves a marker file named after its parent
// (the launcher's process on this node, the same for every local rank); rank
// 0's MPI_Abort waits a little for that marker before aborting and prints a
// line the test's FAIL_REGULAR_EXPRESSION matches if it appeared.
#include <mpi.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

namespace {

std::string marker_path() {
  return "/tmp/procpool_mpi_finalize_probe." + std::to_string(static_cast<long>(::getppid()));
}

int world_rank() {
  int rank = -1;
  int initialized = 0;
  PMPI_Initialized(&initialized);
  if (initialized != 0) PMPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

}  // namespace

extern "C" int MPI_Finalize() {
  const int rank = world_rank();
  if (rank > 0) {
    if (std::FILE* f = std::fopen(marker_path().c_str(), "w")) {
      std::fprintf(f, "%d\n", rank);
      std::fclose(f);
    }
  }
  return PMPI_Finalize();
}

extern "C" int MPI_Abort(MPI_Comm comm, int code) {
  if (world_rank() == 0) {
    // An agent told to end reaches MPI_Finalize within milliseconds; two
    // seconds leaves room for a loaded machine without slowing the test much.
    const std::string path = marker_path();
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    bool entered = false;
    while (!(entered = ::access(path.c_str(), F_OK) == 0) && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (entered) {
      std::printf("FAILED: an agent rank entered MPI_Finalize in a job ending through MPI_Abort\n");
      ::unlink(path.c_str());
    } else {
      std::printf("no agent rank entered MPI_Finalize before MPI_Abort\n");
    }
    std::fflush(stdout);
  }
  return PMPI_Abort(comm, code);
}
