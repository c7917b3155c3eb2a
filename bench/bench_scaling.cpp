// Family 4: CPU-bound scaling. 64 tasks of primes(200000) (count the primes
// below n by trial division, about 20-40 ms each here) on a pool with 1 worker,
// then on one with 2, in the same repetition; the figure is the ratio of the
// two wall times (2.0 is perfect on two cores).
//
// The floor of the machine is measured in the same repetition: the same 64
// computations on 1 plain std::thread vs 2 (sharing an atomic counter). On a
// loaded machine that floor drops below 2 too, and the pool's figure should
// be read against it.
#include "harness.hpp"

#include <procpool/procpool.hpp>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace {

std::int64_t count_primes(std::int64_t n) {
  std::int64_t count = 0;
  for (std::uint32_t x = 2; x < n; ++x) {
    bool prime = true;
    for (std::uint32_t d = 2; d * d <= x; ++d) {
      if (x % d == 0) {
        prime = false;
        break;
      }
    }
    count += prime ? 1 : 0;
  }
  return count;
}

constexpr std::int64_t primes_n = 200'000;
constexpr std::int64_t primes_expected = 17'984;  // primes below 200000

}  // namespace

PROCPOOL_TASK(primes, [](std::int64_t n) { return count_primes(n); });
PROCPOOL_TASK(square, [](std::int64_t x) { return x * x; });

namespace {

using procpool::mode;

double pool_seconds(mode m, int workers, std::uint64_t tasks) {
  procpool::pool p(procpool::options{}.with_mode(m).with_workers(workers));
  {
    std::vector<procpool::task_handle> hs;
    for (int i = 0; i < 8 * workers; ++i) hs.push_back(p.submit("warm" + std::to_string(i), "square", i));
    for (auto& h : hs) (void)h.get();
  }
  std::vector<procpool::task_handle> hs;
  hs.reserve(tasks);
  const auto t0 = bench::clock::now();
  for (std::uint64_t i = 0; i < tasks; ++i) hs.push_back(p.submit(std::to_string(i), "primes", primes_n));
  for (auto& h : hs) {
    const auto v = h.get().get<std::int64_t>();
    if (v != primes_expected) bench::fail("primes(200000) = " + std::to_string(v));
  }
  const double secs = bench::seconds_since(t0);
  p.close();
  p.join();
  return secs;
}

double threads_seconds(int threads, std::uint64_t tasks) {
  std::atomic<std::uint64_t> next{0};
  std::atomic<bool> wrong{false};
  auto body = [&] {
    while (next.fetch_add(1) < tasks) {
      if (count_primes(primes_n) != primes_expected) wrong = true;
    }
  };
  const auto t0 = bench::clock::now();
  std::vector<std::thread> ts;
  for (int i = 0; i < threads; ++i) ts.emplace_back(body);
  for (auto& t : ts) t.join();
  const double secs = bench::seconds_since(t0);
  bench::check(!wrong, "plain-thread primes gave a wrong count");
  return secs;
}

}  // namespace

int main(int argc, char** argv) {
  return bench::guarded_main([&] {
    const bench::config cfg = bench::parse_args(argc, argv);
    const std::uint64_t tasks = cfg.items_or(64, 16);
    const int runs = cfg.runs_or(5, 1);
    std::vector<bench::bench_case> cases;
    const nlohmann::json extra = {{"items", tasks}, {"n", primes_n}};
    for (const mode m : {mode::process, mode::thread}) {
      cases.push_back({m == mode::process ? "process" : "thread", extra,
                       {{"scaling_2v1", "ratio"}, {"cpu_1worker", "s", {{"workers", 1}}},
                        {"cpu_2workers", "s", {{"workers", 2}}}},
                       [=] {
                         const double one = pool_seconds(m, 1, tasks);
                         const double two = pool_seconds(m, 2, tasks);
                         return std::vector<double>{one / two, one, two};
                       }});
    }
    cases.push_back({"plain_threads", extra, {{"scaling_2v1_floor", "ratio"}},
                     [=] { return std::vector<double>{threads_seconds(1, tasks) / threads_seconds(2, tasks)}; }});
    bench::run_interleaved(cases, runs, cfg);
  });
}
