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
// Trivial tasks: 50,000 (quick 2,000); 10 ms tasks: 600 (quick 60); --items
// sets both. 5 repetitions (quick 2). The MPI lines also carry
// "tasks_per_rank": where the last repetition's tasks ran.
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
#include <array>
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

/// One batch: `n` tasks of `square` (argument i) or of a 10 ms sleep.
struct batch {
  std::uint64_t n = 0;
  bool sleep = false;
};

/// Submits every task of the batch one by one (a tag and handle each), then
/// takes every result in order, checking each value; tasks/s. `per_rank`
/// gets how many tasks each rank ran (the local pool: all on rank 0).
double run_batch(procpool::pool& p, const batch& b, std::map<int, std::uint64_t>& per_rank) {
  const std::string prefix = next_prefix();
  const char* task = b.sleep ? "bench_mpi_sleep_ms" : "bench_mpi_square";
  std::vector<procpool::task_handle> hs;
  hs.reserve(b.n);
  const auto t0 = bench::clock::now();
  for (std::uint64_t i = 0; i < b.n; ++i) {
    const auto arg = b.sleep ? std::int64_t{k_sleep_ms} : static_cast<std::int64_t>(i);
    hs.push_back(p.submit(prefix + std::to_string(i), task, arg));
  }
  per_rank.clear();
  for (std::uint64_t i = 0; i < b.n; ++i) {
    const procpool::result r = hs[i].result();
    const auto want = b.sleep ? std::int64_t{k_sleep_ms} : static_cast<std::int64_t>(i * i);
    if (!r.ok() || r.value != want) bench::fail(std::string(task) + "(" + std::to_string(i) + ") = " + r.value.dump());
    ++per_rank[r.rank];
  }
  return static_cast<double>(b.n) / bench::seconds_since(t0);
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
/// `current`; case k records where its tasks ran in per_rank[k].
std::vector<bench::bench_case> make_cases(const batch& trivial, const batch& sleepy, procpool::pool*& current,
                                          std::array<std::map<int, std::uint64_t>, 4>& per_rank) {
  auto run = [&current, &per_rank](const batch& b, std::size_t k) {
    return [&current, &per_rank, b, k] { return std::vector<double>{run_batch(*current, b, per_rank[k])}; };
  };
  auto with = [](nlohmann::json j, const nlohmann::json& more) {
    for (const auto& [key, v] : more.items()) j[key] = v;
    return j;
  };
  const nlohmann::json local = {{"workers", k_workers}, {"backend", "local"}};
  const nlohmann::json mpi = {{"workers", k_workers}, {"backend", "mpi"}, {"ranks", k_workers}};
  const nlohmann::json t = {{"items", trivial.n}};
  const nlohmann::json s = {{"items", sleepy.n}, {"task_ms", k_sleep_ms}, {"ideal", k_workers * 1000 / k_sleep_ms}};
  const std::string skip = mpi_skip_reason();
  const std::string peer = "local pool, 3 workers";
  std::vector<bench::bench_case> cases;
  cases.push_back({"process", with(local, t), {{"local_submit_all", "tasks/s"}}, run(trivial, 0)});
  cases.push_back({"process", with(mpi, t), {{"mpi_submit_all", "tasks/s", {}, {{"local_submit_all", peer, true}}}},
                   run(trivial, 1), skip});
  cases.push_back({"process", with(local, s), {{"local_sleep_10ms", "tasks/s"}}, run(sleepy, 2)});
  cases.push_back({"process", with(mpi, s), {{"mpi_sleep_10ms", "tasks/s", {}, {{"local_sleep_10ms", peer, true}}}},
                   run(sleepy, 3), skip});
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
    std::array<std::map<int, std::uint64_t>, 4> per_rank;
    std::vector<bench::bench_case> cases = make_cases({cfg.items_or(50'000, 2'000), false},
                                                      {cfg.items_or(600, 60), true}, current, per_rank);
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
    // Where the MPI side's last repetition ran its tasks: how the credits
    // shared the batch out (rank 0 runs tasks too).
    for (const std::size_t k : {std::size_t{1}, std::size_t{3}}) {
      for (const auto& [rank, n] : per_rank[k]) cases[k].extra["tasks_per_rank"][std::to_string(rank)] = n;
    }
    for (const bench::bench_case* c : selected) bench::detail::emit_case(*c, selected, cfg);
    const auto failed =
        std::count_if(selected.begin(), selected.end(), [](const bench::bench_case* c) { return !c->error.empty(); });
    if (failed > 0) throw std::runtime_error(std::to_string(failed) + " case(s) failed (see above)");
  });
}
