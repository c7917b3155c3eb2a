// Family 1: throughput of trivial tasks submitted one by one, every result
// collected, in process and thread mode with 1 and 2 workers.
//
//   submit_all     submit every task (one tag and handle each), then get() each
//                  handle in order; submit() blocks while max_queue (1024) is full
//   submit_window  at most --window tasks in flight: get() the oldest handle
//                  before submitting the next (a bounded producer)
//
// Each repetition uses a fresh pool whose workers are already started (a
// warm-up), so the figure is per-task overhead, not start-up.
//
// With each figure: *_cpu, the CPU time (user + system, supervisor threads and
// worker processes together) per task, and *_cores, CPU time / wall time: how
// many cores the run really got. On a loaded machine the CPU figure is the
// steadier one.
//
// Peers, with 2 workers, each run just before the matching submit_all case in
// every repetition, and compared with it (see docs/benchmarks.md, "Peers"):
//   mp_apply_async    process mode: Python's multiprocessing.Pool.apply_async,
//                     one by one, then every .get()
//   asio_post_future  thread mode: boost::asio::thread_pool, post + std::future
//                     per task, then every get()
// Both run as many tasks as procpool's side: the cost per task grows with
// the number of results held (procpool's tag map, Pool's result cache).
#include "harness.hpp"
#include "peer_process.hpp"

#include <procpool/procpool.hpp>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

PROCPOOL_TASK(square, [](std::int64_t x) { return x * x; });

namespace {

std::unique_ptr<procpool::pool> warm_pool(procpool::mode m, int workers) {
  auto p = std::make_unique<procpool::pool>(procpool::options{}.with_mode(m).with_workers(workers));
  // Start every worker: they start lazily, when queued tasks outnumber idle ones.
  for (int round = 0; round < 100 && p->stats().workers_alive < static_cast<std::size_t>(workers); ++round) {
    std::vector<procpool::task_handle> hs;
    for (int i = 0; i < 8 * workers; ++i) {
      hs.push_back(p->submit("warm" + std::to_string(round) + "." + std::to_string(i), "square", i));
    }
    for (auto& h : hs) (void)h.get();
  }
  return p;
}

void finish(procpool::pool& p) {
  p.close();
  p.join();
}

/// {tasks per second, CPU microseconds per task, cores busy}
std::vector<double> figures(const bench::stopwatch& sw, std::uint64_t n) {
  const auto items = static_cast<double>(n);
  return {items / sw.wall(), 1e6 * sw.cpu() / items, sw.cpu() / sw.wall()};
}

std::vector<double> run_all(procpool::mode m, int workers, std::uint64_t n) {
  auto p = warm_pool(m, workers);
  std::vector<procpool::task_handle> hs;
  hs.reserve(n);
  bench::stopwatch sw;
  for (std::uint64_t i = 0; i < n; ++i) {
    hs.push_back(p->submit(std::to_string(i), "square", static_cast<std::int64_t>(i)));
  }
  for (std::uint64_t i = 0; i < n; ++i) {
    const auto v = hs[i].get().get<std::int64_t>();
    if (v != static_cast<std::int64_t>(i * i)) bench::fail("square(" + std::to_string(i) + ") = " + std::to_string(v));
  }
  sw.stop();
  finish(*p);
  return figures(sw, n);
}

std::vector<double> run_window(procpool::mode m, int workers, std::uint64_t n, std::size_t window) {
  auto p = warm_pool(m, workers);
  std::deque<std::pair<std::uint64_t, procpool::task_handle>> inflight;
  auto collect_oldest = [&] {
    auto [i, h] = std::move(inflight.front());
    inflight.pop_front();
    const auto v = h.get().get<std::int64_t>();
    if (v != static_cast<std::int64_t>(i * i)) bench::fail("square(" + std::to_string(i) + ") = " + std::to_string(v));
  };
  bench::stopwatch sw;
  for (std::uint64_t i = 0; i < n; ++i) {
    if (inflight.size() >= window) collect_oldest();
    inflight.emplace_back(i, p->submit(std::to_string(i), "square", static_cast<std::int64_t>(i)));
  }
  while (!inflight.empty()) collect_oldest();
  sw.stop();
  finish(*p);
  return figures(sw, n);
}

}  // namespace

namespace {

/// The case of the peer that submit_all with 2 workers in mode `m` is compared
/// with, and that comparison.
std::pair<bench::bench_case, bench::comparison> peer_of(procpool::mode m, std::uint64_t n) {
  const nlohmann::json w = {{"workers", 2}};
  if (m == procpool::mode::process) {
    const bench::python_peer py;
    bench::bench_case c{"process", {{"workers", 2}, {"items", n}}, {{"mp_apply_async", "tasks/s"}},
                        [py, n] { return py.run("submit", {"--items", std::to_string(n), "--workers", "2"}); },
                        py.skip_reason()};
    return {c, {"mp_apply_async", "multiprocessing.Pool.apply_async", true}};
  }
  bench::bench_case c{"thread", {{"workers", 2}, {"items", n}}, {{"asio_post_future", "tasks/s"}}, [n] {
                        return bench::run_peer({PROCPOOL_BENCH_ASIO_PEER, "--items", std::to_string(n), "--workers", "2"});
                      }};
  return {c, {"asio_post_future", "boost::asio::thread_pool post + std::future", true}};
}

}  // namespace

int main(int argc, char** argv) {
  return bench::guarded_main([&] {
    const bench::config cfg = bench::parse_args(argc, argv);
    const std::uint64_t n = cfg.items_or(200'000, 20'000);
    const int runs = cfg.runs_or(5, 2);
    const std::size_t window = 64;
    std::vector<bench::bench_case> cases;
    for (const procpool::mode m : {procpool::mode::process, procpool::mode::thread}) {
      const char* mname = m == procpool::mode::process ? "process" : "thread";
      for (const int workers : {1, 2}) {
        const nlohmann::json extra = {{"workers", workers}, {"items", n}};
        bench::output all{"submit_all", "tasks/s"};
        if (workers == 2) {
          auto [peer_case, cmp] = peer_of(m, n);
          cases.push_back(std::move(peer_case));  // just before: they run back to back
          all.peers.push_back(cmp);
        }
        cases.push_back({mname, extra, {all, {"submit_all_cpu", "us/task"}, {"submit_all_cores", "cores"}},
                         [=] { return run_all(m, workers, n); }});
        const nlohmann::json w = {{"window", window}};
        cases.push_back({mname, extra,
                         {{"submit_window", "tasks/s", w}, {"submit_window_cpu", "us/task", w},
                          {"submit_window_cores", "cores", w}},
                         [=] { return run_window(m, workers, n, window); }});
      }
    }
    bench::run_interleaved(cases, runs, cfg);
  });
}
