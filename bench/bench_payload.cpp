// Family 7: payload throughput. 10k tasks (quick: 1k) each echo a 64 KiB
// argument back, at most 64 in flight (pool::take() collects the oldest, so
// memory stays bounded), process and thread mode, 2 workers. Two payload
// kinds: a std::string (MessagePack str) and nlohmann::json::binary_t
// (MessagePack bin). Every task's payload is distinct (its index in the first
// 8 bytes over one of 16 random blocks), and every echoed payload is
// checksummed and compared with the checksum of what was sent (computed
// before the clock starts; building each argument, a 64 KiB copy, is timed,
// as a caller pays it too).
//
//   payload_echo        MiB/s of argument bytes (64 KiB per task; as many come back)
//   payload_echo_cpu    CPU microseconds (supervisor and workers) per task
//   payload_echo_cores  CPU time / wall time
//
// Peers: mp_imap_unordered_echo, Python's multiprocessing.Pool.imap_unordered
// echoing as many 64 KiB payloads (str for kind=string, bytes for
// kind=binary; default chunksize 1), 2 workers, run just before the matching
// process-mode case in every repetition and compared with it.
#include "harness.hpp"
#include "peer_process.hpp"

#include <procpool/procpool.hpp>

#include <cstdint>
#include <cstring>
#include <deque>
#include <random>
#include <string>
#include <utility>
#include <vector>

PROCPOOL_TASK(echo_str, [](const std::string& s) { return s; });
PROCPOOL_TASK(echo_bin, [](const nlohmann::json::binary_t& b) { return b; });

namespace {

using procpool::mode;

constexpr std::size_t payload_bytes = 64 * 1024;
constexpr std::size_t variants = 16;

struct payloads {
  std::vector<std::string> blocks;  // random printable bytes
  payloads() {
    std::mt19937_64 rng(42);
    for (std::size_t k = 0; k < variants; ++k) {
      std::string b(payload_bytes, '\0');
      for (char& c : b) c = static_cast<char>('!' + rng() % 90);
      blocks.push_back(std::move(b));
    }
  }
  /// The payload of task i: block i % 16 with i in its first 8 bytes.
  [[nodiscard]] std::string make(std::uint64_t i) const {
    std::string s = blocks[i % variants];
    std::memcpy(s.data(), &i, sizeof i);
    return s;
  }
};

std::vector<double> run_echo(mode m, int workers, bool binary, std::uint64_t n, std::size_t window, const payloads& src) {
  procpool::pool p(procpool::options{}.with_mode(m).with_workers(workers));
  const char* task = binary ? "echo_bin" : "echo_str";
  auto make_arg = [&](std::uint64_t i) -> nlohmann::json {
    std::string s = src.make(i);
    if (!binary) return nlohmann::json(std::move(s));
    return nlohmann::json::binary(std::vector<std::uint8_t>(s.begin(), s.end()));
  };
  auto echoed_sum = [&](const procpool::result& r) -> std::uint64_t {
    if (!r.ok()) bench::fail("echo task " + r.tag + " ended " + r.error_type + ": " + r.error_message);
    if (binary) {
      const auto& b = r.value.get_binary();
      return bench::checksum(b.data(), b.size());
    }
    const auto& s = r.value.get_ref<const std::string&>();
    return bench::checksum(s.data(), s.size());
  };
  // Warm-up: start the workers.
  for (std::uint64_t i = 0; i < static_cast<std::uint64_t>(4 * workers); ++i) {
    p.submit("warm" + std::to_string(i), task, make_arg(i)).wait();
    const std::string sent = src.make(i);
    if (echoed_sum(p.take("warm" + std::to_string(i))) != bench::checksum(sent.data(), sent.size())) {
      bench::fail("warm-up echo differs");
    }
  }
  // The checksums of what will be sent, computed before the clock starts.
  std::vector<std::uint64_t> sent_sum(n);
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::string s = src.make(i);
    sent_sum[i] = bench::checksum(s.data(), s.size());
  }
  std::deque<std::pair<std::string, std::uint64_t>> inflight;  // tag, checksum sent
  auto collect_oldest = [&] {
    const procpool::result r = p.take(inflight.front().first);
    if (echoed_sum(r) != inflight.front().second) bench::fail("echoed payload of " + r.tag + " differs");
    inflight.pop_front();
  };
  bench::stopwatch sw;
  for (std::uint64_t i = 0; i < n; ++i) {
    if (inflight.size() >= window) collect_oldest();
    std::string tag = std::to_string(i);
    (void)p.submit(tag, task, make_arg(i));
    inflight.emplace_back(std::move(tag), sent_sum[i]);
  }
  while (!inflight.empty()) collect_oldest();
  sw.stop();
  p.close();
  p.join();
  const double mib = static_cast<double>(n * payload_bytes) / (1024.0 * 1024.0);
  return {mib / sw.wall(), 1e6 * sw.cpu() / static_cast<double>(n), sw.cpu() / sw.wall()};
}

}  // namespace

int main(int argc, char** argv) {
  return bench::guarded_main([&] {
    const bench::config cfg = bench::parse_args(argc, argv);
    const std::uint64_t n = cfg.items_or(10'000, 1'000);
    const int runs = cfg.runs_or(3, 1);
    const std::size_t window = 64;
    const payloads src;
    std::vector<bench::bench_case> cases;
    const bench::python_peer py;
    for (const mode m : {mode::process, mode::thread}) {
      const char* mname = m == mode::process ? "process" : "thread";
      for (const bool binary : {false, true}) {
        const char* kind = binary ? "binary" : "string";
        const nlohmann::json extra = {
            {"workers", 2}, {"items", n}, {"payload_bytes", payload_bytes}, {"window", window}, {"kind", kind}};
        bench::output figure{"payload_echo", "MiB/s"};
        if (m == mode::process) {
          // One peer output name per kind: a comparison names its peer by bench name.
          const std::string peer_bench = std::string("mp_imap_unordered_echo_") + (binary ? "bytes" : "str");
          cases.push_back({"process", {{"workers", 2}, {"items", n}, {"payload_bytes", payload_bytes}, {"kind", kind}},
                           {{peer_bench, "MiB/s"}},
                           [py, n, binary] {
                             return py.run("echo", {"--items", std::to_string(n), "--workers", "2", "--kind",
                                                    binary ? "bytes" : "str"});
                           },
                           py.skip_reason()});
          figure.peers.push_back({peer_bench, binary ? "multiprocessing imap_unordered (bytes)"
                                                     : "multiprocessing imap_unordered (str)", true});
        }
        cases.push_back({mname, extra, {figure, {"payload_echo_cpu", "us/task"}, {"payload_echo_cores", "cores"}},
                         [=, &src] { return run_echo(m, 2, binary, n, window, src); }});
      }
    }
    bench::run_interleaved(cases, runs, cfg);
  });
}
