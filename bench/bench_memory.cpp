// Family 6: memory of an idle worker process, per start method. A pool with
// one worker runs a task that returns the worker's pid (and its parent's),
// then 1000 trivial tasks (so the worker has done real work), then idles;
// while it idles we read /proc/<pid>/smaps_rollup:
//   worker_rss   resident set
//   worker_pss   proportional set (shared pages divided among their sharers)
//   worker_uss   unique set: Private_Clean + Private_Dirty, what killing the
//                worker would give back
// With fork_server the fork server is a second process the pool keeps:
// fork_server_uss reports it. supervisor_rss (extra key) is this program's own
// RSS, for scale. Thread mode has no worker process: not measured.
#include "harness.hpp"

#include <procpool/procpool.hpp>
#include <procpool/worker/worker_main.hpp>

#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

PROCPOOL_TASK(ids, [] { return std::vector<int>{static_cast<int>(::getpid()), static_cast<int>(::getppid())}; });
PROCPOOL_TASK(square, [](std::int64_t x) { return x * x; });

namespace {

using procpool::start_method;

/// The kB fields of /proc/<pid>/smaps_rollup.
std::map<std::string, double> rollup(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/smaps_rollup");
  if (!f) bench::fail("cannot read /proc/" + std::to_string(pid) + "/smaps_rollup");
  std::map<std::string, double> out;
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string key;
    double kb = 0;
    std::string unit;
    if (in >> key >> kb >> unit && unit == "kB" && !key.empty() && key.back() == ':') {
      key.pop_back();
      out[key] = kb;
    }
  }
  return out;
}

double uss(const std::map<std::string, double>& r) {
  return r.at("Private_Clean") + r.at("Private_Dirty");
}

std::vector<double> idle_worker(start_method s, std::chrono::milliseconds idle, double& supervisor_rss) {
  procpool::pool p(procpool::options{}.with_start(s).with_workers(1));
  const nlohmann::json ids = p.submit("ids", "ids").get();
  const int pid = ids.at(0).get<int>();
  const int ppid = ids.at(1).get<int>();
  bench::check(pid != ::getpid(), "the worker runs in this process");
  std::vector<nlohmann::json> inputs;
  for (int i = 0; i < 1000; ++i) inputs.emplace_back(i);
  const auto out = p.map("square", inputs);
  bench::check(out.size() == inputs.size() && out[999].get<std::int64_t>() == 999 * 999, "map gave wrong values");
  bench::check(p.submit("ids2", "ids").get().at(0).get<int>() == pid, "the only worker was replaced");
  std::this_thread::sleep_for(idle);
  const auto w = rollup(pid);
  double server = -1;
  if (s == start_method::fork_server && ppid != ::getpid()) server = uss(rollup(ppid));
  supervisor_rss = rollup(static_cast<int>(::getpid())).at("Rss");
  p.close();
  p.join();
  return {w.at("Rss"), w.at("Pss"), uss(w), server};
}

const char* start_name(start_method s) {
  switch (s) {
    case start_method::fork_server: return "fork_server";
    case start_method::fork: return "fork";
    case start_method::spawn: return "spawn";
  }
  return "?";
}

}  // namespace

int main(int argc, char** argv) {
  procpool::run_worker_if_requested(argc, argv);  // spawned workers run this very program
  return bench::guarded_main([&] {
    const bench::config cfg = bench::parse_args(argc, argv);
    const int runs = cfg.runs_or(5, 2);
    const auto idle = std::chrono::milliseconds(cfg.quick ? 100 : 300);
    for (const start_method s : {start_method::fork_server, start_method::fork, start_method::spawn}) {
      std::vector<std::vector<double>> samples(4);
      double sup = 0;
      if (!cfg.wants("worker_") && !(s == start_method::fork_server && cfg.wants("fork_server_uss"))) continue;
      if (!cfg.selects("process", {{"start", start_name(s)}, {"workers", 1}})) continue;
      for (int r = 0; r < runs; ++r) {
        const std::vector<double> v = idle_worker(s, idle, sup);
        for (std::size_t k = 0; k < v.size(); ++k) samples[k].push_back(v[k]);
      }
      const nlohmann::json extra = {{"start", start_name(s)}, {"supervisor_rss_kib", sup}, {"idle_ms", idle.count()}};
      if (cfg.wants("worker_rss")) bench::emit("worker_rss", "process", "KiB", samples[0], extra);
      if (cfg.wants("worker_pss")) bench::emit("worker_pss", "process", "KiB", samples[1], extra);
      if (cfg.wants("worker_uss")) bench::emit("worker_uss", "process", "KiB", samples[2], extra);
      if (s == start_method::fork_server && samples[3].front() >= 0 && cfg.wants("fork_server_uss")) {
        bench::emit("fork_server_uss", "process", "KiB", samples[3], extra);
      }
    }
  });
}
