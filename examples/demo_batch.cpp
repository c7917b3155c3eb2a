// demo_batch.cpp: a CPU-bound batch over a pool, one JSON line per result.
//
// Counts the primes below n (by trial division, on purpose slow) for ~40 tagged
// tasks of different sizes, prints every result as it arrives, then a summary:
//
//   {"tag":"primes-below-175000-5","state":"done","value":15916,"worker_pid":4242,"elapsed_ms":12.3}
//   ...
//   {"summary":true,"mode":"process","workers":2,"tasks":40,"done":40,"failed":0,"wall_s":0.91,"tasks_per_s":44.0}
//
// Usage: demo_batch [--mode thread|process] [-j N] [--tasks N] [--no-results]
//   --mode   where tasks run (default: process)
//   -j N     the worker cap (default: the number of CPUs)
//   --tasks  how many tasks (default: 40)
// Exits 0 iff every task ended `done` with the right count (checked against a
// sieve computed here); 1 otherwise; 2 on a usage error.

#include <procpool/procpool.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace {

// The task: how many primes are there below n? Trial division by odd numbers up
// to sqrt(k): deliberately CPU-bound, so that more workers means less wall time.
std::int64_t count_primes_below(std::int64_t n) {
  if (n <= 2) return 0;
  std::int64_t count = 1;  // 2
  for (std::int64_t k = 3; k < n; k += 2) {
    bool prime = true;
    for (std::int64_t d = 3; d * d <= k; d += 2) {
      if (k % d == 0) {
        prime = false;
        break;
      }
    }
    if (prime) ++count;
  }
  return count;
}

// The check: a sieve in this process, to verify what the workers sent back.
std::vector<std::int64_t> prime_counts_below(const std::vector<std::int64_t>& ns) {
  const std::int64_t top = ns.empty() ? 0 : *std::max_element(ns.begin(), ns.end());
  std::vector<bool> composite(static_cast<std::size_t>(top) + 1, false);
  std::vector<std::int64_t> pi(static_cast<std::size_t>(top) + 1, 0);  // pi[k]: primes < k
  std::int64_t count = 0;
  for (std::int64_t k = 0; k <= top; ++k) {
    const auto ku = static_cast<std::size_t>(k);
    pi[ku] = count;
    if (k < 2 || composite[ku]) continue;
    ++count;
    for (std::int64_t m = k * k; m <= top; m += k) composite[static_cast<std::size_t>(m)] = true;
  }
  std::vector<std::int64_t> out;
  out.reserve(ns.size());
  for (const std::int64_t n : ns) out.push_back(pi[static_cast<std::size_t>(n)]);
  return out;
}

}  // namespace

PROCPOOL_TASK(count_primes_below, count_primes_below);

namespace {

struct cli {
  procpool::mode mode = procpool::mode::process;
  int workers = procpool::default_worker_count();
  int tasks = 40;
  bool print_results = true;
};

[[noreturn]] void usage(const char* argv0, const std::string& why) {
  std::cerr << argv0 << ": " << why << "\n"
            << "usage: " << argv0 << " [--mode thread|process] [-j N] [--tasks N] [--no-results]\n";
  std::exit(2);
}

int parse_positive(const char* argv0, std::string_view flag, const char* text) {
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v < 1 || v > 4096) {
    usage(argv0, std::string(flag) + " wants a number in 1..4096, got '" + text + "'");
  }
  return static_cast<int>(v);
}

cli parse(int argc, char** argv) {
  cli c;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage(argv[0], std::string(a) + " needs a value");
      return argv[++i];
    };
    if (a == "--mode") {
      const std::string_view v = value();
      if (v == "thread") {
        c.mode = procpool::mode::thread;
      } else if (v == "process") {
        c.mode = procpool::mode::process;
      } else {
        usage(argv[0], "unknown mode '" + std::string(v) + "'");
      }
    } else if (a == "-j" || a == "--workers") {
      c.workers = parse_positive(argv[0], a, value());
    } else if (a.starts_with("-j") && a.size() > 2) {
      c.workers = parse_positive(argv[0], "-j", argv[i] + 2);
    } else if (a == "--tasks") {
      c.tasks = parse_positive(argv[0], a, value());
    } else if (a == "--no-results") {
      c.print_results = false;
    } else if (a == "-h" || a == "--help") {
      usage(argv[0], "help");
    } else {
      usage(argv[0], "unknown argument '" + std::string(a) + "'");
    }
  }
  return c;
}

double round3(double x) { return std::round(x * 1000.0) / 1000.0; }

double ms_between(std::chrono::system_clock::time_point a,
                  std::chrono::system_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace

int main(int argc, char** argv) {
  const cli args = parse(argc, argv);

  // The batch: sizes from 50'000 to 1'025'000 in a shuffled order, so that big
  // and small tasks are mixed and completion order differs from submission order.
  std::vector<std::int64_t> ns;
  for (int i = 0; i < args.tasks; ++i) {
    ns.push_back(50'000 + static_cast<std::int64_t>((i * 17) % 40) * 25'000);
  }
  const std::vector<std::int64_t> expected = prime_counts_below(ns);

  procpool::pool pool({.mode = args.mode, .workers = args.workers});

  // Print each result as it arrives: the callbacks run one by one on the pool's
  // callback thread; the mutex keeps a line whole even so.
  std::mutex out_mu;
  auto print = [&](const procpool::result& r) {
    if (!args.print_results) return;
    // ordered_json keeps the keys in the order written here.
    nlohmann::ordered_json line = {{"tag", r.tag},
                                   {"state", procpool::to_string(r.state)},
                                   {"value", r.value},
                                   {"worker_pid", r.worker_pid},
                                   {"elapsed_ms", round3(ms_between(r.started_at, r.finished_at))}};
    if (!r.ok()) line["error"] = r.error_type + ": " + r.error_message;
    const std::lock_guard<std::mutex> lock(out_mu);
    std::cout << line.dump() << '\n' << std::flush;
  };

  const auto t0 = std::chrono::steady_clock::now();
  std::map<std::string, std::int64_t> want;  // tag -> expected count
  for (std::size_t i = 0; i < ns.size(); ++i) {
    std::string tag = "primes-below-" + std::to_string(ns[i]) + "-" + std::to_string(i);
    want[tag] = expected[i];
    (void)pool.submit(std::move(tag), "count_primes_below", ns[i], print, print);
  }
  pool.close();
  const std::map<std::string, procpool::result> all = pool.results();
  pool.join();
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::size_t done = 0;
  std::size_t failed = 0;
  for (const auto& [tag, want_count] : want) {
    const auto it = all.find(tag);
    if (it != all.end() && it->second.ok() && it->second.value == want_count) {
      ++done;
      continue;
    }
    ++failed;
    std::cerr << tag << ": "
              << (it == all.end()
                      ? std::string("missing")
                      : std::string(procpool::to_string(it->second.state)) + " value " +
                            it->second.value.dump() + ", want " + std::to_string(want_count))
              << '\n';
  }

  const nlohmann::ordered_json summary = {
      {"summary", true},
      {"mode", args.mode == procpool::mode::thread ? "thread" : "process"},
      {"workers", args.workers},
      {"workers_started", pool.stats().workers_started},
      {"tasks", want.size()},
      {"done", done},
      {"failed", failed},
      {"wall_s", round3(wall_s)},
      {"tasks_per_s", round3(wall_s > 0 ? static_cast<double>(want.size()) / wall_s : 0.0)}};
  {
    const std::lock_guard<std::mutex> lock(out_mu);
    std::cout << summary.dump() << std::endl;
  }
  return failed == 0 && all.size() == want.size() ? 0 : 1;
}
