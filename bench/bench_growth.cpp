// Family 10: what the supervisor keeps per task, in this process's resident
// memory (VmRSS of /proc/self/status), process mode, 2 workers:
//
//   supervisor_rss_growth     MiB: RSS after --items (default 1M, quick 20k)
//                             trivial tasks, each submitted with a tag (at most
//                             64 in flight) and its handle's get() once, under
//                             result_retention = drop_once_delivered, minus RSS
//                             after the warm-up. What a long-running pool
//                             accumulates when nobody keeps results.
//   retained_result_overhead  bytes per result: a tenth as many tasks submitted
//                             and finished but never taken (keep_until_taken),
//                             RSS growth / tasks, minus the 8 bytes of the value
//                             itself (an int64). What a held result costs.
//
// RSS moves in pages and malloc keeps freed memory for reuse, so these are
// upper bounds of what the pool holds, which is what a user's memory limit sees.
#include "harness.hpp"

#include <procpool/procpool.hpp>

#include <cstdint>
#include <deque>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

PROCPOOL_TASK(square, [](std::int64_t x) { return x * x; });

namespace {

/// VmRSS of this process, in bytes.
double rss_bytes() {
  std::ifstream f("/proc/self/status");
  std::string key;
  while (f >> key) {
    if (key == "VmRSS:") {
      double kib = 0;
      f >> kib;
      return kib * 1024;
    }
    f.ignore(4096, '\n');
  }
  bench::fail("no VmRSS in /proc/self/status");
}

void warm_up(procpool::pool& p) {
  std::vector<procpool::task_handle> hs;
  for (int i = 0; i < 1000; ++i) hs.push_back(p.submit("warm" + std::to_string(i), "square", i));
  for (auto& h : hs) (void)h.get();
}

std::vector<double> rss_growth(std::uint64_t n) {
  procpool::pool p(procpool::options{}.with_workers(2).with_result_retention(procpool::retention::drop_once_delivered));
  warm_up(p);
  const double before = rss_bytes();
  std::deque<std::pair<std::int64_t, procpool::task_handle>> inflight;
  auto collect_oldest = [&] {
    const std::int64_t x = inflight.front().first;
    if (inflight.front().second.get().get<std::int64_t>() != x * x) bench::fail("square(" + std::to_string(x) + ")");
    inflight.pop_front();
  };
  for (std::uint64_t i = 0; i < n; ++i) {
    if (inflight.size() >= 64) collect_oldest();
    const auto x = static_cast<std::int64_t>(i);
    inflight.emplace_back(x, p.submit(std::to_string(i), "square", x));
  }
  while (!inflight.empty()) collect_oldest();
  const double growth = rss_bytes() - before;
  p.close();
  p.join();
  return {growth / (1024.0 * 1024.0)};
}

std::vector<double> retained_overhead(std::uint64_t n) {
  procpool::pool p(procpool::options{}.with_workers(2));  // keep_until_taken
  warm_up(p);
  const double before = rss_bytes();
  for (std::uint64_t i = 0; i < n; ++i) {
    (void)p.submit(std::to_string(i), "square", static_cast<std::int64_t>(i));  // the handle is dropped
  }
  // Wait for each (result() leaves the entry in place) and check it.
  for (std::uint64_t i = 0; i < n; ++i) {
    const auto x = static_cast<std::int64_t>(i);
    if (p.result(std::to_string(i)).value.get<std::int64_t>() != x * x) bench::fail("square(" + std::to_string(x) + ")");
  }
  const double growth = rss_bytes() - before;
  p.close();
  p.join();
  return {growth / static_cast<double>(n) - 8.0};
}

}  // namespace

int main(int argc, char** argv) {
  return bench::guarded_main([&] {
    const bench::config cfg = bench::parse_args(argc, argv);
    const std::uint64_t n = cfg.items_or(1'000'000, 20'000);
    const std::uint64_t held = n / 10;
    const int runs = cfg.runs_or(1, 1);
    std::vector<bench::bench_case> cases;
    cases.push_back({"process", {{"workers", 2}, {"items", n}, {"retention", "drop_once_delivered"}},
                     {{"supervisor_rss_growth", "MiB"}}, [n] { return rss_growth(n); }});
    cases.push_back({"process", {{"workers", 2}, {"items", held}, {"retention", "keep_until_taken"}},
                     {{"retained_result_overhead", "bytes/result"}}, [held] { return retained_overhead(held); }});
    bench::run_interleaved(cases, runs, cfg);
  });
}
