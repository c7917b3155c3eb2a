// Family 8: shared state used from inside a worker (built only once the pool
// has the shared-state API: pool::make_dict / make_array, ctx.dict / ctx.array).
//
//   shared_dict_pairs    set(key, int) + get(key) pairs per second, 100 keys
//                        cycled, every get checked, timed inside the task
//   shared_array_writes  plain element writes per second (arr[i % 1024] = i)
//   shared_array_atomic  fetch_add(i % 1024, 1) per second
// One worker, process and thread mode. The supervisor checks the final
// contents after each task.
#include "harness.hpp"

#include <procpool/procpool.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

constexpr std::size_t array_size = 1024;
constexpr int dict_keys = 100;

double dict_pairs(procpool::task_context& ctx, std::int64_t n) {
  procpool::shared_dict d = ctx.dict("bench_dict");
  std::vector<std::string> keys;
  for (int k = 0; k < dict_keys; ++k) keys.push_back("key" + std::to_string(k));
  const auto t0 = bench::clock::now();
  for (std::int64_t i = 0; i < n; ++i) {
    const std::string& key = keys[static_cast<std::size_t>(i % dict_keys)];
    d.set(key, i);
    const std::optional<nlohmann::json> v = d.get(key);
    if (!v || v->get<std::int64_t>() != i) throw std::runtime_error("shared_dict: get != set");
  }
  return bench::seconds_since(t0);
}

double array_writes(procpool::task_context& ctx, std::int64_t n) {
  procpool::shared_array<std::int64_t> a = ctx.array<std::int64_t>("bench_array");
  const auto t0 = bench::clock::now();
  for (std::int64_t i = 0; i < n; ++i) {
    a[static_cast<std::size_t>(i) % array_size] = i;
    asm volatile("" ::: "memory");  // every write happens: no folding of the loop
  }
  return bench::seconds_since(t0);
}

double array_atomic(procpool::task_context& ctx, std::int64_t n) {
  procpool::shared_array<std::int64_t> a = ctx.array<std::int64_t>("bench_counters");
  const auto t0 = bench::clock::now();
  for (std::int64_t i = 0; i < n; ++i) (void)a.fetch_add(static_cast<std::size_t>(i) % array_size, 1);
  return bench::seconds_since(t0);
}

}  // namespace

PROCPOOL_TASK(dict_pairs, dict_pairs);
PROCPOOL_TASK(array_writes, array_writes);
PROCPOOL_TASK(array_atomic, array_atomic);

namespace {

using procpool::mode;

std::vector<double> run_shared(mode m, std::int64_t pairs, std::int64_t writes) {
  procpool::pool p(procpool::options{}.with_mode(m).with_workers(1));
  procpool::shared_dict d = p.make_dict("bench_dict", 2 * dict_keys);
  procpool::shared_array<std::int64_t> arr = p.make_array<std::int64_t>("bench_array", array_size);
  procpool::shared_array<std::int64_t> ctr = p.make_array<std::int64_t>("bench_counters", array_size);

  const double dict_s = p.submit("dict", "dict_pairs", pairs).get().get<double>();
  const std::int64_t last = pairs - 1;
  bench::check(d.get("key" + std::to_string(last % dict_keys)).value_or(nullptr) == last,
               "shared_dict: the supervisor does not see the last value");

  const double arr_s = p.submit("array", "array_writes", writes).get().get<double>();
  for (std::size_t k = 0; k < array_size && static_cast<std::int64_t>(k) < writes; ++k) {
    // The last write to element k was the largest i with i % 1024 == k.
    const std::int64_t want = (writes - 1) - (((writes - 1) % static_cast<std::int64_t>(array_size) -
                                               static_cast<std::int64_t>(k) + static_cast<std::int64_t>(array_size)) %
                                              static_cast<std::int64_t>(array_size));
    if (arr[k] != want) bench::fail("shared_array: element " + std::to_string(k) + " is " + std::to_string(arr[k]));
  }

  const double atomic_s = p.submit("atomic", "array_atomic", writes).get().get<double>();
  std::int64_t total = 0;
  for (std::size_t k = 0; k < array_size; ++k) total += ctr[k];
  bench::check(total == writes, "shared_array: the counters add up to " + std::to_string(total));

  p.close();
  p.join();
  return {static_cast<double>(pairs) / dict_s, static_cast<double>(writes) / arr_s,
          static_cast<double>(writes) / atomic_s};
}

}  // namespace

int main(int argc, char** argv) {
  return bench::guarded_main([&] {
    const bench::config cfg = bench::parse_args(argc, argv);
    const auto pairs = static_cast<std::int64_t>(cfg.items_or(200'000, 20'000));
    const std::int64_t writes = 500 * pairs;  // element writes are ~1000x cheaper than dict pairs
    const int runs = cfg.runs_or(5, 2);
    std::vector<bench::bench_case> cases;
    for (const mode m : {mode::process, mode::thread}) {
      cases.push_back({m == mode::process ? "process" : "thread",
                       {{"workers", 1}},
                       {{"shared_dict_pairs", "pairs/s", {{"items", pairs}, {"keys", dict_keys}}},
                        {"shared_array_writes", "writes/s", {{"items", writes}, {"size", array_size}}},
                        {"shared_array_atomic", "ops/s", {{"items", writes}, {"size", array_size}}}},
                       [=] { return run_shared(m, pairs, writes); }});
    }
    bench::run_interleaved(cases, runs, cfg);
  });
}
