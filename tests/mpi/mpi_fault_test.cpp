// Failures on agent ranks end as in the local pool, with rank and host, and
// the job goes on: a task that segfaults, one that throws, a worker killed
// from outside. Rank 0 runs no task here, so every task runs on an agent.
#include "mpi_test.hpp"

#include <sys/types.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <string>

using procpool_mpi_test::failures;

int main(int argc, char** argv) {
  procpool::mpi::serve_if_agent(argc, argv);
  procpool::options o = procpool_mpi_test::mpi_options();
  o.mpi_rank0_runs_tasks = false;
  procpool::pool pool(o);
  const bool agents = pool.stats().ranks.size() > 1;

  (void)pool.submit("segv", "mpi_segfault");
  const procpool::result segv = pool.result("segv");
  PROCPOOL_MPI_CHECK(segv.state == procpool::task_state::crashed);
  PROCPOOL_MPI_CHECK(segv.signal && *segv.signal == SIGSEGV);
  PROCPOOL_MPI_CHECK(!segv.host.empty());
  PROCPOOL_MPI_CHECK(!agents || segv.rank != 0);

  (void)pool.submit("throws", "mpi_throw", "boom");
  const procpool::result thrown = pool.result("throws");
  PROCPOOL_MPI_CHECK(thrown.state == procpool::task_state::failed);
  PROCPOOL_MPI_CHECK(thrown.error_message == "boom");
  PROCPOOL_MPI_CHECK(thrown.error_type.find("runtime_error") != std::string::npos);
  PROCPOOL_MPI_CHECK(!agents || thrown.rank != 0);

  // A worker killed from outside (the test's ranks share this host).
  const std::string pid_file = "mpi_fault_test." + std::to_string(::getpid()) + ".pid";
  (void)pool.submit("killed", "mpi_publish_pid_and_hang", pid_file);
  PROCPOOL_MPI_CHECK(procpool_mpi_test::wait_until([&] { return ::access(pid_file.c_str(), F_OK) == 0; }));
  int worker = 0;
  std::ifstream(pid_file) >> worker;
  PROCPOOL_MPI_CHECK(worker > 0);
  if (worker > 0) ::kill(worker, SIGKILL);
  const procpool::result killed = pool.result("killed");
  std::remove(pid_file.c_str());
  PROCPOOL_MPI_CHECK(killed.state == procpool::task_state::crashed);
  PROCPOOL_MPI_CHECK(killed.signal && *killed.signal == SIGKILL);
  PROCPOOL_MPI_CHECK(killed.worker_pid == worker);

  // A retry runs the task again (anywhere); the job goes on.
  procpool::task_options twice;
  twice.retries = 1;
  (void)pool.submit("retried", "mpi_segfault", nullptr, twice);
  const procpool::result retried = pool.result("retried");
  PROCPOOL_MPI_CHECK(retried.state == procpool::task_state::crashed && retried.attempts == 2);

  for (int i = 0; i < 8; ++i) (void)pool.submit("ok" + std::to_string(i), "mpi_square", i);
  for (int i = 0; i < 8; ++i) {
    const procpool::result r = pool.result("ok" + std::to_string(i));
    PROCPOOL_MPI_CHECK(r.ok() && r.value == i * i);
    PROCPOOL_MPI_CHECK(!agents || r.rank != 0);
  }
  const procpool::pool_stats s = pool.stats();
  PROCPOOL_MPI_CHECK(s.crashed == 3 && s.failed == 1 && s.done == 8);
  if (agents) PROCPOOL_MPI_CHECK(s.ranks[0].finished == 0);
  pool.close();
  pool.join();
  return procpool_mpi_test::finish("mpi_fault_test");
}
