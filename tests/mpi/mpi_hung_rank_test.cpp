// A rank that goes silent (SIGSTOP) is lost after options::mpi_heartbeat_limit:
// its tags run on the other ranks and every tag ends done, the lost run
// recorded as an attempt (rank_lost); the pool's
// destructor then ends the job through MPI_Abort (so the launcher reaps the
// stopped rank). The test passes on the line printed before that.
#include "mpi_test.hpp"

#include <signal.h>

#include <chrono>
#include <string>

using procpool_mpi_test::failures;

int main(int argc, char** argv) {
  procpool::mpi::serve_if_agent(argc, argv);
  procpool::options o = procpool_mpi_test::mpi_options();
  o.mpi_heartbeat_limit = std::chrono::milliseconds(1000);
  o.mpi_rank0_runs_tasks = false;
  procpool::pool pool(o);
  const std::size_t world = pool.stats().ranks.size();
  if (world < 3) {
    std::printf("needs 3 ranks\n");
    return 1;
  }
  const int n = 12;
  for (int i = 0; i < n; ++i) (void)pool.submit("t" + std::to_string(i), "mpi_sleep_ms", 300);
  PROCPOOL_MPI_CHECK(procpool_mpi_test::wait_until([&] { return pool.stats().ranks[2].in_flight > 0; }));
  const int victim = pool.stats().ranks[2].pid;
  ::kill(victim, SIGSTOP);
  const auto all = pool.results();
  PROCPOOL_MPI_CHECK(all.size() == static_cast<std::size_t>(n));
  std::size_t rerun = 0;
  for (const auto& [tag, r] : all) {
    PROCPOOL_MPI_CHECK(r.ok());
    // A tag the stopped rank held ran again elsewhere: the lost run is one
    // attempt, recorded as rank_lost, and cost none of its retries.
    if (!r.attempt_errors.empty()) {
      ++rerun;
      PROCPOOL_MPI_CHECK(r.attempt_errors.size() == 1);
      PROCPOOL_MPI_CHECK(r.attempt_errors[0].rfind("rank_lost: procpool::rank_lost: rank 2 (host ", 0) == 0);
      PROCPOOL_MPI_CHECK(r.attempts == 2);
      PROCPOOL_MPI_CHECK(r.rank == 1);
    } else {
      PROCPOOL_MPI_CHECK(r.attempts == 1);
    }
  }
  PROCPOOL_MPI_CHECK(rerun > 0);  // rank 2 held a task when it stopped
  const procpool::pool_stats s = pool.stats();
  PROCPOOL_MPI_CHECK(s.ranks[2].credits == 0);  // lost: nothing more is sent to it
  PROCPOOL_MPI_CHECK(s.ranks[1].finished + s.ranks[2].finished == static_cast<std::size_t>(n));
  pool.close();
  pool.join();
  if (failures() == 0) std::printf("hung rank test passed\n");
  std::fflush(stdout);
  return procpool_mpi_test::finish("mpi_hung_rank_test");
}
