// Family 11: the MPI backend against the local pool, the same batches on the
// same number of workers. Run under `mpiexec -n 3` (bench/run.sh does): every
// rank calls serve_if_agent first; rank 0 measures, the others serve.
//
//   local_submit_all  local pool, 3 process-mode workers: trivial `square`
//                     tasks submitted one by one (a tag and handle each), then
//                     every get() in order, each value checked. tasks/s.
//   mpi_submit_all    the same on the MPI backend, 3 ranks x 1 worker (rank 0
//                     runs tasks too). Peer: local_submit_all.
//   local_sleep_10ms  tasks that sleep 10 ms each, as above: the ideal is
//   mpi_sleep_10ms    3 workers x 100/s = 300 tasks/s ("ideal"). Peer of the
//                     MPI one: the local one.
//
// Ratios are oriented as in every family: > 1 means the MPI figure is better.
// The two sides cannot alternate repetition by repetition as the other
// families do: the local pool must fork its workers before MPI starts, and
// MPI can be initialised only once per process. So rank 0 runs every local
// repetition on one warm local pool, destroys it, then every MPI repetition
// on one warm MPI pool; the ratio pairs repetition r of each side.
//
// On one machine the MPI figure measures the backend's protocol overhead
// (rank 0 -> agent -> worker and back, over shared memory), not a cluster's
// gain: the ranks share the same cores as the local workers.
#include "harness.hpp"

#include <procpool/procpool.hpp>
#include <procpool/supervisor/mpi.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

PROCPOOL_TASK(bench_mpi_square, [](std::int64_t x) { return x * x; });
PROCPOOL_TASK(bench_mpi_sleep_ms, [](int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
});

namespace {

constexpr int k_workers = 3;   // local: 3 workers; MPI: 3 ranks x 1 worker
constexpr int k_sleep_ms = 10;

/// Workers alive across the pool: the MPI backend reports them per rank.
std::size_t workers_alive(const procpool::pool& p) {
  const procpool::pool_stats s = p.stats();
  if (s.ranks.empty()) return s.workers_alive;
  std::size_t n = 0;
  for (const procpool::rank_stats& r : s.ranks) n += r.workers_alive;
  return n;
}

/// Starts every worker before the clock: they start lazily, and on agent
/// ranks only once tasks reach them. Sleeping tasks spread over the ranks.
void warm_up(procpool::pool& p) {
  for (int round = 0; round < 100 && workers_alive(p) < static_cast<std::size_t>(k_workers); ++round) {
    std::vector<procpool::task_handle> hs;
    for (int i = 0; i < 4 * k_workers; ++i) {
      hs.push_back(p.submit("warm" + std::to_string(round) + "." + std::to_string(i), "bench_mpi_sleep_ms", 2));
    }
    for (auto& h : hs) (void)h.get();
  }
  if (workers_alive(p) < static_cast<std::size_t>(k_workers)) {
    bench::fail("only " + std::to_string(workers_alive(p)) + " of " + std::to_string(k_workers) + " workers started");
  }
}

/// Tags unique within one pool: every repetition of every case has its own prefix.
std::string next_prefix() {
  static int n = 0;
  return "r" + std::to_string(n++) + ".";
}

/// n trivial tasks, all submitted then every result taken in order; tasks/s.
double run_trivial(procpool::pool& p, std::uint64_t n) {
  const std::string prefix = next_prefix();
  std::vector<procpool::task_handle> hs;
  hs.reserve(n);
  const auto t0 = bench::clock::now();
  for (std::uint64_t i = 0; i < n; ++i) {
    hs.push_back(p.submit(prefix + std::to_string(i), "bench_mpi_square", static_cast<std::int64_t>(i)));
  }
  for (std::uint64_t i = 0; i < n; ++i) {
    const auto v = hs[i].get().get<std::int64_t>();
    if (v != static_cast<std::int64_t>(i * i)) bench::fail("square(" + std::to_string(i) + ") = " + std::to_string(v));
  }
  return static_cast<double>(n) / bench::seconds_since(t0);
}

/// n tasks of 10 ms, as run_trivial; tasks/s. `per_rank` gets how many tasks
/// each rank ran (all on rank 0 for the local pool).
double run_sleepy(procpool::pool& p, std::uint64_t n, std::map<int, std::uint64_t>& per_rank) {
  const std::string prefix = next_prefix();
  std::vector<procpool::task_handle> hs;
  hs.reserve(n);
  const auto t0 = bench::clock::now();
  for (std::uint64_t i = 0; i < n; ++i) hs.push_back(p.submit(prefix + std::to_string(i), "bench_mpi_sleep_ms", k_sleep_ms));
  per_rank.clear();
  for (auto& h : hs) {
    const procpool::result r = h.result();
    if (!r.ok() || r.value != k_sleep_ms) bench::fail("sleep task " + h.tag() + " did not return " + std::to_string(k_sleep_ms));
    ++per_rank[r.rank];
  }
  return static_cast<double>(n) / bench::seconds_since(t0);
}

/// Runs `runs` repetitions of every case in `side` on the pool `make` builds
/// (warmed first), then closes and destroys it. A case whose repetition
/// throws is marked failed and skipped from then on, as run_interleaved does.
template <class Make>
void measure_side(const std::vector<bench::bench_case*>& side, int runs, procpool::pool*& current, Make make) {
  if (side.empty()) return;
  std::unique_ptr<procpool::pool> p;
  try {
    p = make();
    warm_up(*p);
  } catch (const std::exception& e) {
    for (bench::bench_case* c : side) c->error = std::string("pool: ") + e.what();
    bench::note(std::string("FAILED to start a pool: ") + e.what());
    return;
  }
  current = p.get();
  for (int r = 0; r < runs; ++r) {
    for (bench::bench_case* c : side) {
      if (!c->error.empty()) continue;
      try {
        const std::vector<double> v = c->run();
        c->samples.resize(v.size());
        for (std::size_t k = 0; k < v.size(); ++k) c->samples[k].push_back(v[k]);
      } catch (const std::exception& e) {
        c->error = e.what();
        bench::note("FAILED (" + c->outputs.front().bench + "): " + e.what());
      }
    }
  }
  current = nullptr;
  p->close();
  p->join();
}

/// Why the MPI cases cannot run here, or "" if they can.
std::string mpi_skip_reason() {
  if (!procpool::mpi::available()) return "this build has no MPI backend";
  if (procpool::mpi::launcher_rank() < 0) return "not started by an MPI launcher (bench/run.sh runs it under mpiexec -n 3)";
  return "";
}

/// The four cases, local before MPI for each batch. Their runs measure
/// `current`; the MPI sleep case records where its tasks ran in `mpi_ranks`.
std::vector<bench::bench_case> make_cases(std::uint64_t trivial, std::uint64_t sleepy, procpool::pool*& current,
                                          std::map<int, std::uint64_t>& local_ranks,
                                          std::map<int, std::uint64_t>& mpi_ranks) {
  auto trivial_run = [&current, trivial] { return std::vector<double>{run_trivial(*current, trivial)}; };
  auto sleepy_run = [&current, sleepy](std::map<int, std::uint64_t>& per_rank) {
    return [&current, &per_rank, sleepy] { return std::vector<double>{run_sleepy(*current, sleepy, per_rank)}; };
  };
  auto with = [](nlohmann::json j, const nlohmann::json& more) {
    for (const auto& [k, v] : more.items()) j[k] = v;
    return j;
  };
  const nlohmann::json local = {{"workers", k_workers}, {"backend", "local"}};
  const nlohmann::json mpi = {{"workers", k_workers}, {"backend", "mpi"}, {"ranks", k_workers}};
  const nlohmann::json t = {{"items", trivial}};
  const nlohmann::json s = {{"items", sleepy}, {"task_ms", k_sleep_ms}, {"ideal", k_workers * 1000 / k_sleep_ms}};
  const std::string skip = mpi_skip_reason();
  const std::string peer = "local pool, 3 workers";
  std::vector<bench::bench_case> cases;
  cases.push_back({"process", with(local, t), {{"local_submit_all", "tasks/s"}}, trivial_run});
  cases.push_back({"process", with(mpi, t), {{"mpi_submit_all", "tasks/s", {}, {{"local_submit_all", peer, true}}}},
                   trivial_run, skip});
  cases.push_back({"process", with(local, s), {{"local_sleep_10ms", "tasks/s"}}, sleepy_run(local_ranks)});
  cases.push_back({"process", with(mpi, s), {{"mpi_sleep_10ms", "tasks/s", {}, {{"local_sleep_10ms", peer, true}}}},
                   sleepy_run(mpi_ranks), skip});
  return cases;
}

std::unique_ptr<procpool::pool> make_local_pool() {
  return std::make_unique<procpool::pool>(procpool::options{}.with_mode(procpool::mode::process).with_workers(k_workers));
}

std::unique_ptr<procpool::pool> make_mpi_pool() {
  auto p = std::make_unique<procpool::pool>(procpool::options{}.with_backend(procpool::backend_kind::mpi).with_workers(1));
  const std::size_t world = p->stats().ranks.size();
  if (world != static_cast<std::size_t>(k_workers)) {
    bench::fail("the MPI job has " + std::to_string(world) + " ranks, this family needs " + std::to_string(k_workers) +
                " (mpiexec -n 3)");
  }
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  procpool::mpi::serve_if_agent(argc, argv);  // agent ranks serve rank 0's pool, then exit
  return bench::guarded_main([&] {
    const bench::config cfg = bench::parse_args(argc, argv);
    const int runs = cfg.runs_or(5, 2);
    procpool::pool* current = nullptr;  // the pool the running side measures
    std::map<int, std::uint64_t> local_ranks;
    std::map<int, std::uint64_t> mpi_ranks;
    std::vector<bench::bench_case> cases =
        make_cases(cfg.items_or(20'000, 2'000), cfg.items_or(300, 60), current, local_ranks, mpi_ranks);
    const std::vector<bench::bench_case*> selected = bench::detail::select(cases, cfg);
    std::vector<bench::bench_case*> local_side;
    std::vector<bench::bench_case*> mpi_side;
    for (bench::bench_case* c : selected) {
      if (!c->skip_reason.empty()) {
        bench::note("skipped (" + c->outputs.front().bench + "): " + c->skip_reason);
      } else {
        (c->extra["backend"] == "mpi" ? mpi_side : local_side).push_back(c);
      }
    }
    // The local pool first, and gone before MPI starts (see the top).
    measure_side(local_side, runs, current, make_local_pool);
    measure_side(mpi_side, runs, current, make_mpi_pool);
    // Where the last repetition's 10 ms tasks ran: every rank should take a share.
    for (const auto& [rank, n] : mpi_ranks) cases[3].extra["tasks_per_rank"][std::to_string(rank)] = n;
    for (const bench::bench_case* c : selected) bench::detail::emit_case(*c, selected, cfg);
    const auto failed =
        std::count_if(selected.begin(), selected.end(), [](const bench::bench_case* c) { return !c->error.empty(); });
    if (failed > 0) throw std::runtime_error(std::to_string(failed) + " case(s) failed (see above)");
  });
}
