// submit / result / apply / map across ranks: every rank runs tasks, every
// result names its rank and host, the observer hears of every start, and the
// values equal the local pool's.
// Run under `mpiexec -n 3` and `-n 1` (one rank: everything on rank 0).
#include "mpi_test.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

using procpool_mpi_test::failures;

namespace {

std::vector<nlohmann::json> inputs() {
  std::vector<nlohmann::json> v;
  for (int i = 0; i < 40; ++i) v.emplace_back(i);
  return v;
}

/// The same work through a local process pool (made before MPI exists).
std::vector<nlohmann::json> local_map() {
  procpool::pool local(procpool::options{}.with_workers(2));
  std::vector<nlohmann::json> v = local.map("mpi_square", inputs());
  local.close();
  local.join();
  return v;
}

/// Records each start the observer hears of: tag -> worker pid.
class start_recorder final : public procpool::observer {
 public:
  void task_started(std::string_view tag, int worker_pid, int /*attempt*/) noexcept override {
    const std::lock_guard<std::mutex> lock(m_);
    started_[std::string(tag)] = worker_pid;
  }
  std::map<std::string, int> started() const {
    const std::lock_guard<std::mutex> lock(m_);
    return started_;
  }

 private:
  mutable std::mutex m_;
  std::map<std::string, int> started_;
};

}  // namespace

int main(int argc, char** argv) {
  procpool::mpi::serve_if_agent(argc, argv);
  const std::vector<nlohmann::json> expected = local_map();

  auto starts = std::make_shared<start_recorder>();
  procpool::options o = procpool_mpi_test::mpi_options();
  o.observer = starts;
  procpool::pool pool(o);
  const std::size_t world = pool.stats().ranks.size();
  PROCPOOL_MPI_CHECK(world >= 1);

  // Tasks long enough that every rank gets some: rank 0 takes at most its credits.
  for (int i = 0; i < 12; ++i) (void)pool.submit("t" + std::to_string(i), "mpi_sleep_ms", 30);
  const std::map<std::string, procpool::result> all = pool.results();
  std::set<int> ranks;
  for (const auto& [tag, r] : all) {
    PROCPOOL_MPI_CHECK(r.ok());
    PROCPOOL_MPI_CHECK(r.value == 30);
    PROCPOOL_MPI_CHECK(!r.host.empty());
    PROCPOOL_MPI_CHECK(r.worker_pid > 0);
    ranks.insert(r.rank);
  }
  PROCPOOL_MPI_CHECK(all.size() == 12);
  // The observer hears of every start, on agents too, with the worker that ran it.
  const std::map<std::string, int> started = starts->started();
  for (const auto& [tag, r] : all) {
    const auto it = started.find(tag);
    PROCPOOL_MPI_CHECK(it != started.end() && it->second == r.worker_pid);
  }
  PROCPOOL_MPI_CHECK(ranks.size() == world);  // every rank ran tasks (one rank: rank 0)
  PROCPOOL_MPI_CHECK(*ranks.begin() == 0 && static_cast<std::size_t>(*ranks.rbegin()) == world - 1);

  // A single result by tag, and apply.
  (void)pool.submit("one", "mpi_square", 9);
  const procpool::result one = pool.result("one");
  PROCPOOL_MPI_CHECK(one.ok() && one.value == 81 && !one.host.empty());
  PROCPOOL_MPI_CHECK(pool.apply("applied", "mpi_square", 7) == 49);

  // map: the same values as the local pool, in input order.
  PROCPOOL_MPI_CHECK(pool.map("mpi_square", inputs()) == expected);
  PROCPOOL_MPI_CHECK(pool.map("mpi_square", inputs(), 1) == expected);

  // Shared-state objects are node-local: refused with a clear error.
  bool refused = false;
  try {
    (void)pool.make_dict("d", 4, 64);
  } catch (const procpool::error& e) {
    refused = std::string(e.what()).find("mpi") != std::string::npos;
  }
  PROCPOOL_MPI_CHECK(refused);

  // Per-rank rows.
  const procpool::pool_stats s = pool.stats();
  std::size_t finished = 0;
  for (const procpool::rank_stats& row : s.ranks) {
    PROCPOOL_MPI_CHECK(!row.host.empty() && row.pid > 0);
    PROCPOOL_MPI_CHECK(row.max_in_flight <= row.credits);
    finished += row.finished;
  }
  PROCPOOL_MPI_CHECK(finished >= 14);

  pool.close();
  pool.join();
  PROCPOOL_MPI_CHECK(pool.stats().workers_alive == 0);
  return procpool_mpi_test::finish("mpi_submit_test");
}
