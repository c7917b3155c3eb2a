// close/join and terminate across ranks: terminate cancels what is queued,
// stops what runs on every rank, and returns with every tag settled; later
// submissions are refused.
#include "mpi_test.hpp"

#include <chrono>
#include <string>
#include <vector>

using procpool_mpi_test::failures;

int main(int argc, char** argv) {
  procpool::mpi::serve_if_agent(argc, argv);
  procpool::options o = procpool_mpi_test::mpi_options();
  o.terminate_grace = std::chrono::milliseconds(200);
  procpool::pool pool(o);
  const std::size_t world = pool.stats().ranks.size();

  // Long tasks: every rank holds its credits (2), the rest waits on rank 0.
  const int n = static_cast<int>(world) * 2 + 3;
  std::vector<procpool::task_handle> handles;
  for (int i = 0; i < n; ++i) handles.push_back(pool.submit("long" + std::to_string(i), "mpi_sleep_ms", 600000));
  PROCPOOL_MPI_CHECK(procpool_mpi_test::wait_until([&] {
    std::size_t held = 0;
    for (const procpool::rank_stats& r : pool.stats().ranks) held += r.in_flight;
    return held == world * 2;
  }));
  // One task runs on each rank's one worker; the second a rank holds waits
  // behind it and is queued, not running (agents report their claims).
  const auto running_tags = [&] {
    std::size_t running = 0;
    for (const procpool::task_handle& h : handles) running += h.state() == procpool::task_state::running ? 1U : 0U;
    return running;
  };
  PROCPOOL_MPI_CHECK(procpool_mpi_test::wait_until([&] { return running_tags() == world; }));
  PROCPOOL_MPI_CHECK(running_tags() == world);
  PROCPOOL_MPI_CHECK(pool.stats().running == world);

  const auto t0 = std::chrono::steady_clock::now();
  pool.terminate();
  const auto took = std::chrono::steady_clock::now() - t0;
  PROCPOOL_MPI_CHECK(took < std::chrono::seconds(20));
  const auto all = pool.results();
  PROCPOOL_MPI_CHECK(all.size() == static_cast<std::size_t>(n));
  for (const auto& [tag, r] : all) PROCPOOL_MPI_CHECK(r.state == procpool::task_state::cancelled);

  bool refused = false;
  try {
    (void)pool.submit("late", "mpi_square", 1);
  } catch (const procpool::error& e) {
    refused = e.code() == procpool::errc::closed;
  }
  PROCPOOL_MPI_CHECK(refused);
  PROCPOOL_MPI_CHECK(pool.stats().workers_alive == 0);
  return procpool_mpi_test::finish("mpi_lifecycle_test");
}
