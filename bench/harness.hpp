// A tiny benchmark harness shared by the bench programs.
//
// Every figure is printed as one JSON object per line on stdout:
//   {"bench": ..., "mode": ..., "value": <median>, "unit": ..., "runs": N,
//    "min": ..., "median": ..., "max": ..., <extra keys>}
// A figure compared with a peer (another implementation doing the same work,
// measured in the same repetitions) also carries "peer" (what it is),
// "peer_value" (the peer's median) and "ratio" (> 1: procpool is better; see
// detail::compare), and further peers under "other_peers". A peer that could
// not run (no python3) prints its own line with "skipped" and leaves
// "peer_value" and "ratio" null, with "peer_error" saying why.
// Diagnostics go to stderr. Each program accepts:
//   --quick          fewer items and runs (CI: checks that it builds and runs)
//   --runs N         repetitions per figure (each family has its default)
//   --items N        override the family's item count (tasks, round trips...)
//   --filter TEXT    only figures whose bench name contains TEXT
//   --mode M         only cases of mode M (process, thread; for profiling)
//   --workers N      only cases with N workers (for profiling)
//   --where K=V      only cases whose extra key K is V (e.g. start=spawn, kind=binary)
// A program exits non-zero if a result is wrong (every bench checks its
// results) or the library throws; the other configurations still run and
// print, the failed one prints "value": null and "error". Times are never
// asserted.
#pragma once

#include <nlohmann/json.hpp>

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bench {

using clock = std::chrono::steady_clock;

struct config {
  bool quick = false;
  int runs = 0;                ///< 0: the family's default
  std::uint64_t items = 0;     ///< 0: the family's default
  std::string filter;
  std::string mode;            ///< only cases of this mode (process, thread, ...)
  int workers = 0;             ///< only cases with this many workers
  std::vector<std::pair<std::string, std::string>> where;  ///< only cases whose extra key K is V

  /// True if a case with this mode and these extra keys is selected.
  [[nodiscard]] bool selects(std::string_view case_mode, const nlohmann::json& extra) const {
    if (!mode.empty() && case_mode != mode) return false;
    if (workers != 0 && !(extra.contains("workers") && extra["workers"] == workers)) return false;
    for (const auto& [k, v] : where) {
      if (!extra.contains(k)) return false;
      const nlohmann::json& x = extra[k];
      if ((x.is_string() ? x.get<std::string>() : x.dump()) != v) return false;
    }
    return true;
  }

  [[nodiscard]] int runs_or(int full, int quick_runs) const {
    if (runs > 0) return runs;
    return quick ? quick_runs : full;
  }
  [[nodiscard]] std::uint64_t items_or(std::uint64_t full, std::uint64_t quick_items) const {
    if (items > 0) return items;
    return quick ? quick_items : full;
  }
  [[nodiscard]] bool wants(std::string_view bench_name) const {
    return filter.empty() || bench_name.find(filter) != std::string_view::npos;
  }
};

inline config parse_args(int argc, char** argv) {
  config c;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&](std::string_view name) -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(std::string(name) + " needs a value");
      return argv[++i];
    };
    if (a == "--quick") {
      c.quick = true;
    } else if (a == "--runs") {
      c.runs = std::stoi(value(a));
    } else if (a == "--items") {
      c.items = std::stoull(value(a));
    } else if (a == "--filter") {
      c.filter = value(a);
    } else if (a == "--mode") {
      c.mode = value(a);
    } else if (a == "--workers") {
      c.workers = std::stoi(value(a));
    } else if (a == "--where") {
      const std::string kv = value(a);
      const std::size_t eq = kv.find('=');
      if (eq == std::string::npos) throw std::invalid_argument("--where needs KEY=VALUE");
      c.where.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    } else if (a == "-h" || a == "--help") {
      std::cerr << "usage: " << argv[0]
                << " [--quick] [--runs N] [--items N] [--filter TEXT] [--mode M] [--workers N]"
                << " [--where KEY=VALUE]\n";
      std::exit(0);
    } else {
      throw std::invalid_argument("unknown argument '" + std::string(a) + "'");
    }
  }
  return c;
}

[[nodiscard]] inline double seconds_since(clock::time_point t0) {
  return std::chrono::duration<double>(clock::now() - t0).count();
}

/// The 1-minute load average, to tell how noisy a figure may be.
[[nodiscard]] inline double load1() {
  std::ifstream f("/proc/loadavg");
  double v = -1;
  f >> v;
  return v;
}

/// The q-quantile (0..1) of `v` by the nearest-rank method; v must be non-empty.
[[nodiscard]] inline double quantile(std::vector<double> v, double q) {
  if (v.empty()) throw std::logic_error("quantile of nothing");
  std::sort(v.begin(), v.end());
  const double rank = std::ceil(q * static_cast<double>(v.size()));  // 1-based
  const auto idx = static_cast<std::size_t>(std::clamp(rank, 1.0, static_cast<double>(v.size()))) - 1;
  return v[idx];
}

[[nodiscard]] inline double median(std::vector<double> v) {
  if (v.empty()) throw std::logic_error("median of nothing");
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

[[nodiscard]] inline double round_sig(double x) {
  // Six significant digits are more than any of these figures deserve.
  if (x == 0.0 || !std::isfinite(x)) return x;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", x);
  return std::strtod(buf, nullptr);
}

/// Prints one figure: the median of `samples` as value, with min/median/max.
inline void emit(std::string_view name, std::string_view mode, std::string_view unit,
                 const std::vector<double>& samples, const nlohmann::json& extra = nlohmann::json::object()) {
  if (samples.empty()) throw std::logic_error("emit without samples");
  const double med = median(samples);
  nlohmann::ordered_json j;
  j["bench"] = name;
  j["mode"] = mode;
  j["value"] = round_sig(med);
  j["unit"] = unit;
  j["runs"] = samples.size();
  j["min"] = round_sig(*std::min_element(samples.begin(), samples.end()));
  j["median"] = round_sig(med);
  j["max"] = round_sig(*std::max_element(samples.begin(), samples.end()));
  for (const auto& [k, v] : extra.items()) j[k] = v;
  j["load1"] = load1();
  std::cout << j.dump() << std::endl;  // flush per line: the driver streams it
}

/// A failed check: the bench's results are wrong. Throws, so the pool in scope
/// is destroyed normally; the case is reported with "error" and the program
/// exits non-zero.
[[noreturn]] inline void fail(const std::string& why) {
  throw std::runtime_error("CHECK FAILED: " + why);
}

inline void check(bool ok, const std::string& why) {
  if (!ok) fail(why);
}

inline void note(const std::string& text) { std::cerr << "bench: " << text << std::endl; }

/// Runs `body` and turns any exception into a non-zero exit with the message.
template <class F>
int guarded_main(F&& body) {
  try {
    body();
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bench: error: " << e.what() << std::endl;
    return 2;
  }
}

/// A fast 64-bit checksum of a byte range: four independent multiply-xor
/// lanes over 8-byte words (independent, so the multiplies overlap), folded
/// at the end. Not cryptographic: it catches a wrong, torn, truncated or
/// swapped payload.
[[nodiscard]] inline std::uint64_t checksum(const void* data, std::size_t n) noexcept {
  constexpr std::uint64_t k = 0xff51afd7ed558ccdULL;
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint64_t h[4] = {0x9e3779b97f4a7c15ULL ^ n, 0xc2b2ae3d27d4eb4fULL, 0x165667b19e3779f9ULL,
                        0x27d4eb2f165667c5ULL};
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (std::size_t lane = 0; lane < 4; ++lane) {
      std::uint64_t w = 0;
      std::memcpy(&w, p + i + 8 * lane, 8);
      h[lane] = (h[lane] ^ w) * k;
      h[lane] ^= h[lane] >> 29U;
    }
  }
  std::uint64_t out = h[0] ^ (h[1] * 3) ^ (h[2] * 5) ^ (h[3] * 7);
  for (; i < n; ++i) out = (out ^ p[i]) * 0x100000001b3ULL;
  return (out ^ (out >> 31U)) * k;
}

/// CPU time (user + system, seconds) used so far by this process (all its
/// threads) and by every live descendant process (workers, the fork server),
/// read from /proc. Descendants that already exited are not counted: take both
/// readings while the pool's workers are alive. On a loaded machine the CPU
/// time per task is a steadier figure than wall time: it does not count the
/// time spent waiting for a core.
[[nodiscard]] inline double tree_cpu_seconds() {
  // Per thread, /proc/<pid>/task/<tid>/schedstat starts with the nanoseconds
  // it ran (exact; /proc/<pid>/stat counts 10 ms clock ticks, too coarse here).
  std::vector<int> todo{static_cast<int>(::getpid())};
  double total_ns = 0;
  while (!todo.empty()) {
    const int pid = todo.back();
    todo.pop_back();
    const std::string dir = "/proc/" + std::to_string(pid) + "/task";
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) continue;  // it exited meanwhile
    while (const dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      const std::string task = dir + "/" + e->d_name;
      std::ifstream stat(task + "/schedstat");
      double ns = 0;
      if (stat >> ns) total_ns += ns;
      std::ifstream kids(task + "/children");
      int c = 0;
      while (kids >> c) todo.push_back(c);
    }
    ::closedir(d);
  }
  return total_ns / 1e9;
}

/// Wall and CPU time of one timed region.
class stopwatch {
 public:
  stopwatch() : wall0_(clock::now()), cpu0_(tree_cpu_seconds()) {}
  /// Stops the clock (call once, while the workers are still alive).
  void stop() {
    wall_ = seconds_since(wall0_);
    cpu_ = tree_cpu_seconds() - cpu0_;
  }
  [[nodiscard]] double wall() const noexcept { return wall_; }
  [[nodiscard]] double cpu() const noexcept { return cpu_; }

 private:
  clock::time_point wall0_;
  double cpu0_;
  double wall_ = 0;
  double cpu_ = 0;
};

/// A peer figure an output is compared with (see docs/benchmarks.md, "Peers").
/// The peer is the output named `peer_bench` in the same case (the pipe
/// ping-pong measured inside a latency repetition), or else in the one other
/// case that has it (a peer program run as a case of its own).
struct comparison {
  std::string peer_bench;
  std::string peer;              ///< what the peer is, for people: "multiprocessing.Pool.apply_async"
  bool higher_is_better = true;  ///< throughputs: true; times and latencies: false
};

/// One measured configuration: `run` performs one repetition and returns one
/// value per output (e.g. p50 and p99 of the same round trips).
struct output {
  std::string bench;
  std::string unit;
  nlohmann::json extra = nlohmann::json::object();
  std::vector<comparison> peers{};  ///< the first is the line's "peer"; more go to "other_peers"
};
struct bench_case {
  std::string mode;
  nlohmann::json extra = nlohmann::json::object();  ///< keys common to every output
  std::vector<output> outputs;
  std::function<std::vector<double>()> run;
  std::string skip_reason{};  ///< non-empty: never run (a peer whose interpreter is missing)
  std::vector<std::vector<double>> samples{};
  std::string error{};  ///< what a repetition threw; no more repetitions after it
};

namespace detail {

struct peer_ref {
  const bench_case* c = nullptr;
  std::size_t k = 0;  ///< index into c->outputs
};

/// The case and output that `bench_name` names for a comparison made in `self`.
inline peer_ref find_peer(const std::vector<bench_case*>& all, const bench_case& self, const std::string& bench_name) {
  for (std::size_t k = 0; k < self.outputs.size(); ++k) {
    if (self.outputs[k].bench == bench_name) return {&self, k};
  }
  peer_ref found;
  for (const bench_case* c : all) {
    for (std::size_t k = 0; k < c->outputs.size(); ++k) {
      if (c->outputs[k].bench != bench_name) continue;
      if (found.c != nullptr) throw std::logic_error("two cases have the peer output " + bench_name);
      found = {c, k};
    }
  }
  if (found.c == nullptr) throw std::logic_error("no case has the peer output " + bench_name);
  return found;
}

/// {"peer", "peer_value", "ratio"} of one comparison. The ratio is oriented so
/// that > 1 means procpool is better, and it is the median of the ratios of
/// each repetition (procpool and the peer ran back to back in it), so load
/// drift between repetitions cancels; it need not equal value / peer_value.
inline nlohmann::json compare(const bench_case& self, std::size_t k, const comparison& cmp, const peer_ref& p) {
  nlohmann::json j;
  j["peer"] = cmp.peer;
  j["peer_value"] = nullptr;
  j["ratio"] = nullptr;
  const std::string why = !p.c->skip_reason.empty() ? "skipped: " + p.c->skip_reason
                          : !p.c->error.empty()     ? "failed: " + p.c->error
                                                    : "";
  if (!why.empty()) {
    j["peer_error"] = why;
    return j;
  }
  const std::vector<double>& mine = self.samples.at(k);
  const std::vector<double>& theirs = p.c->samples.at(p.k);
  j["peer_value"] = round_sig(median(theirs));
  if (mine.size() != theirs.size()) return j;  // repetitions no longer pair up
  std::vector<double> ratios;
  for (std::size_t r = 0; r < mine.size(); ++r) {
    ratios.push_back(cmp.higher_is_better ? mine[r] / theirs[r] : theirs[r] / mine[r]);
  }
  j["ratio"] = round_sig(median(ratios));
  return j;
}

/// The line of an output that has no figure: skipped or failed.
inline void emit_missing(const output& o, const bench_case& c, const nlohmann::json& extra) {
  nlohmann::ordered_json j;
  j["bench"] = o.bench;
  j["mode"] = c.mode;
  j["value"] = nullptr;
  j["unit"] = o.unit;
  j["runs"] = 0;
  j["min"] = nullptr;
  j["median"] = nullptr;
  j["max"] = nullptr;
  for (const auto& [key, val] : extra.items()) j[key] = val;
  if (c.skip_reason.empty()) {
    j["error"] = c.error;
  } else {
    j["skipped"] = c.skip_reason;
  }
  j["load1"] = load1();
  std::cout << j.dump() << std::endl;
}

/// The selected cases, plus every case they name as a peer (a peer runs even
/// when --filter or --mode would leave it out: a ratio needs both sides).
inline std::vector<bench_case*> select(std::vector<bench_case>& cases, const config& cfg) {
  std::vector<bench_case*> all;
  for (auto& c : cases) all.push_back(&c);
  std::vector<bench_case*> selected;
  auto add = [&](bench_case* c) {
    if (std::find(selected.begin(), selected.end(), c) == selected.end()) selected.push_back(c);
  };
  for (bench_case* c : all) {
    const bool any = std::any_of(c->outputs.begin(), c->outputs.end(),
                                 [&](const output& o) { return cfg.wants(o.bench); });
    if (!any || !cfg.selects(c->mode, c->extra)) continue;
    for (const output& o : c->outputs) {
      if (!cfg.wants(o.bench)) continue;
      for (const comparison& cmp : o.peers) {
        const bench_case* peer = find_peer(all, *c, cmp.peer_bench).c;
        for (bench_case* candidate : all) {
          if (candidate == peer) add(candidate);
        }
      }
    }
    add(c);
  }
  // Keep the order of `cases`: a peer case placed just before its procpool
  // case runs just before it in every repetition.
  std::vector<bench_case*> ordered;
  for (bench_case* c : all) {
    if (std::find(selected.begin(), selected.end(), c) != selected.end()) ordered.push_back(c);
  }
  return ordered;
}

/// Prints every wanted output of `c`, with its comparisons.
inline void emit_case(const bench_case& c, const std::vector<bench_case*>& selected, const config& cfg) {
  for (std::size_t k = 0; k < c.outputs.size(); ++k) {
    const output& o = c.outputs[k];
    if (!cfg.wants(o.bench)) continue;
    nlohmann::json extra = c.extra;
    for (const auto& [key, val] : o.extra.items()) extra[key] = val;
    if (!c.skip_reason.empty() || !c.error.empty()) {
      emit_missing(o, c, extra);
      continue;
    }
    for (std::size_t i = 0; i < o.peers.size(); ++i) {
      const nlohmann::json cmp = compare(c, k, o.peers[i], find_peer(selected, c, o.peers[i].peer_bench));
      if (i == 0) {
        for (const auto& [key, val] : cmp.items()) extra[key] = val;
      } else {
        extra["other_peers"].push_back(cmp);
      }
    }
    emit(o.bench, c.mode, o.unit, c.samples[k], extra);
  }
}

}  // namespace detail

/// Runs every selected case `runs` times, interleaved (run 1 of every case,
/// then run 2 ...), so a burst of load from elsewhere on the machine spreads
/// over all cases instead of spoiling one; then prints every output's figure.
/// A case whose run throws is reported with "error" (the others carry on, the
/// program then exits non-zero); a skipped case is reported with "skipped".
inline void run_interleaved(std::vector<bench_case>& cases, int runs, const config& cfg) {
  const std::vector<bench_case*> selected = detail::select(cases, cfg);
  for (bench_case* c : selected) {
    if (!c->skip_reason.empty()) note("skipped (" + c->outputs.front().bench + "): " + c->skip_reason);
  }
  for (int r = 0; r < runs; ++r) {
    for (bench_case* c : selected) {
      if (!c->error.empty() || !c->skip_reason.empty()) continue;
      std::vector<double> v;
      try {
        v = c->run();
      } catch (const std::exception& e) {
        c->error = e.what();
        note("FAILED (" + c->outputs.front().bench + ", " + c->mode + "): " + e.what());
        continue;
      }
      if (v.size() != c->outputs.size()) throw std::logic_error("a case returned the wrong number of values");
      c->samples.resize(v.size());
      for (std::size_t k = 0; k < v.size(); ++k) c->samples[k].push_back(v[k]);
    }
  }
  for (const bench_case* c : selected) detail::emit_case(*c, selected, cfg);
  const auto failed = std::count_if(selected.begin(), selected.end(), [](const bench_case* c) { return !c->error.empty(); });
  if (failed > 0) throw std::runtime_error(std::to_string(failed) + " case(s) failed (see above)");
}

}  // namespace bench
