// Family 2: pool::map of a trivial task over 1M inputs (quick: 100k), process
// and thread mode, 1 and 2 workers; with 2 workers also the typed map
// (map_typed: pool.map(square_task, std::vector<std::int64_t>)). The inputs
// are built before the clock starts (a std::vector<nlohmann::json>, and a
// std::vector<std::int64_t> for the typed map); the figure is inputs per
// second through map(), results checked; map_cpu / map_typed_cpu is the CPU
// time (supervisor and workers) per input, map_cores CPU time / wall time.
// map_again / map_typed_again: the same map once more on the same pool (its
// buffers and the rings' pages already touched): a long-lived pool's figure.
//
// Peer: mp_pool_map, Python's multiprocessing.Pool.map(square, inputs) over
// as many ints with its default chunksize, 2 workers, run just before the
// process-mode 2-worker case in every repetition and compared with it;
// mp_pool_map_again, the same map again on that Pool, compared with the
// *_again figures.
#include "harness.hpp"
#include "peer_process.hpp"

#include <procpool/procpool.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

PROCPOOL_TASK(square, [](std::int64_t x) { return x * x; });

namespace {

void check_squares(const std::vector<nlohmann::json>& inputs, const std::vector<nlohmann::json>& out) {
  bench::check(out.size() == inputs.size(), "map returned " + std::to_string(out.size()) + " values");
  for (std::size_t i = 0; i < out.size(); ++i) {
    const auto x = inputs[i].get<std::int64_t>();
    if (out[i].get<std::int64_t>() != x * x) bench::fail("map: wrong value at " + std::to_string(i));
  }
}

void check_squares(const std::vector<std::int64_t>& inputs, const std::vector<std::int64_t>& out) {
  bench::check(out.size() == inputs.size(), "typed map returned " + std::to_string(out.size()) + " values");
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] != inputs[i] * inputs[i]) bench::fail("typed map: wrong value at " + std::to_string(i));
  }
}

std::vector<double> run_map(procpool::mode m, int workers, const std::vector<nlohmann::json>& inputs) {
  procpool::pool p(procpool::options{}.with_mode(m).with_workers(workers));
  // Warm-up: start the workers so the figure is the steady state.
  (void)p.map("square", std::vector<nlohmann::json>(static_cast<std::size_t>(16 * workers), 3));
  bench::stopwatch sw;
  std::vector<nlohmann::json> out = p.map("square", inputs);
  sw.stop();
  check_squares(inputs, out);
  out = {};
  bench::stopwatch again;
  out = p.map("square", inputs);
  again.stop();
  check_squares(inputs, out);
  p.close();
  p.join();
  const auto items = static_cast<double>(inputs.size());
  return {items / sw.wall(), 1e6 * sw.cpu() / items, sw.cpu() / sw.wall(), items / again.wall()};
}

/// The typed map of the same task: std::vector<std::int64_t> in and out.
std::vector<double> run_typed_map(procpool::mode m, int workers, const std::vector<std::int64_t>& inputs) {
  procpool::pool p(procpool::options{}.with_mode(m).with_workers(workers));
  (void)p.map(square_task, std::vector<std::int64_t>(static_cast<std::size_t>(16 * workers), 3));
  bench::stopwatch sw;
  std::vector<std::int64_t> out = p.map(square_task, inputs);
  sw.stop();
  check_squares(inputs, out);
  out = {};
  bench::stopwatch again;
  out = p.map(square_task, inputs);
  again.stop();
  check_squares(inputs, out);
  p.close();
  p.join();
  const auto items = static_cast<double>(inputs.size());
  return {items / sw.wall(), 1e6 * sw.cpu() / items, items / again.wall()};
}

}  // namespace

int main(int argc, char** argv) {
  return bench::guarded_main([&] {
    const bench::config cfg = bench::parse_args(argc, argv);
    const std::uint64_t n = cfg.items_or(1'000'000, 100'000);
    const int runs = cfg.runs_or(3, 1);
    std::vector<nlohmann::json> inputs;
    inputs.reserve(n);
    std::vector<std::int64_t> typed_inputs;
    typed_inputs.reserve(n);
    for (std::uint64_t i = 0; i < n; ++i) {
      inputs.emplace_back(static_cast<std::int64_t>(i));
      typed_inputs.push_back(static_cast<std::int64_t>(i));
    }
    std::vector<bench::bench_case> cases;
    const bench::python_peer py;
    for (const procpool::mode m : {procpool::mode::process, procpool::mode::thread}) {
      const char* mname = m == procpool::mode::process ? "process" : "thread";
      for (const int workers : {1, 2}) {
        bench::output figure{"map", "tasks/s"};
        if (m == procpool::mode::process && workers == 2) {
          cases.push_back({"process", {{"workers", 2}, {"items", n}},
                           {{"mp_pool_map", "tasks/s"}, {"mp_pool_map_again", "tasks/s"}},
                           [py, n] { return py.run("map", {"--items", std::to_string(n), "--workers", "2"}); },
                           py.skip_reason()});
          figure.peers.push_back({"mp_pool_map", "multiprocessing.Pool.map", true});
        }
        bench::output again{"map_again", "tasks/s"};
        if (m == procpool::mode::process && workers == 2) {
          again.peers.push_back({"mp_pool_map_again", "multiprocessing.Pool.map, same Pool again", true});
        }
        cases.push_back({mname, {{"workers", workers}, {"items", n}},
                         {figure, {"map_cpu", "us/task"}, {"map_cores", "cores"}, again},
                         [m, workers, &inputs] { return run_map(m, workers, inputs); }});
        if (workers == 2) {
          bench::output typed{"map_typed", "tasks/s"};
          bench::output typed_again{"map_typed_again", "tasks/s"};
          if (m == procpool::mode::process) {
            typed.peers.push_back({"mp_pool_map", "multiprocessing.Pool.map", true});
            typed_again.peers.push_back({"mp_pool_map_again", "multiprocessing.Pool.map, same Pool again", true});
          }
          cases.push_back({mname, {{"workers", workers}, {"items", n}},
                           {typed, {"map_typed_cpu", "us/task"}, typed_again},
                           [m, workers, &typed_inputs] { return run_typed_map(m, workers, typed_inputs); }});
        }
      }
    }
    bench::run_interleaved(cases, runs, cfg);
  });
}
