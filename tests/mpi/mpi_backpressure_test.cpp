// Credits and the queue bound: with one worker per rank and a prefetch of 1
// each agent holds at most 2 tasks, rank 0 holds max_queue more, and then
// try_submit refuses with errc::full, as the local pool does when its queue
// is full. No rank ever holds more than its credits.
#include "mpi_test.hpp"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

using procpool_mpi_test::failures;

int main(int argc, char** argv) {
  procpool::mpi::serve_if_agent(argc, argv);
  procpool::options o = procpool_mpi_test::mpi_options();
  o.mpi_rank0_runs_tasks = false;
  o.max_queue = 2;
  procpool::pool pool(o);
  const std::size_t world = pool.stats().ranks.size();
  const std::size_t agents = world - 1;
  const std::string gate = "mpi_backpressure_test." + std::to_string(::getpid()) + ".gate";
  std::remove(gate.c_str());

  // Room: 2 credits per agent (one rank alone runs its own tasks: 2 too) + the queue's 2.
  const std::size_t room = (agents == 0 ? 2 : 2 * agents) + 2;
  for (std::size_t i = 0; i < room; ++i) (void)pool.submit("g" + std::to_string(i), "mpi_wait_for_file", gate);
  PROCPOOL_MPI_CHECK(procpool_mpi_test::wait_until([&] {
    std::size_t held = 0;
    for (const procpool::rank_stats& r : pool.stats().ranks) held += r.in_flight;
    return held == room - 2;
  }));
  std::error_code ec;
  const procpool::task_handle h = pool.try_submit("over", "mpi_wait_for_file", gate, ec);
  PROCPOOL_MPI_CHECK(ec == procpool::errc::full);
  bool timed_out = false;
  try {
    (void)pool.submit_for(std::chrono::milliseconds(50), "over2", "mpi_wait_for_file", gate);
  } catch (const procpool::error& e) {
    timed_out = e.code() == procpool::errc::full;
  }
  PROCPOOL_MPI_CHECK(timed_out);

  std::ofstream(gate) << "open\n";
  const auto all = pool.results();
  std::remove(gate.c_str());
  PROCPOOL_MPI_CHECK(all.size() == room);
  for (const auto& [tag, r] : all) PROCPOOL_MPI_CHECK(r.ok());
  for (const procpool::rank_stats& r : pool.stats().ranks) {
    PROCPOOL_MPI_CHECK(r.max_in_flight <= r.credits);
    if (agents > 0 && r.rank == 0) PROCPOOL_MPI_CHECK(r.finished == 0);
  }
  pool.close();
  pool.join();
  return procpool_mpi_test::finish("mpi_backpressure_test");
}
