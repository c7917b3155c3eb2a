// Family 3: round-trip latency of one task (submit, then get() its handle),
// p50 and p99 over --items round trips (default 10k, quick 1k), against the
// floor of the machine measured in the same repetition: a one-byte pipe
// ping-pong between two processes (process mode) or two threads (thread mode).
// No pinning: the scheduler places every thread freely.
//
// Figures per mode and worker count:
//   roundtrip_p50 / roundtrip_p99          the pool, microseconds
//   pipe_pingpong_p50 / pipe_pingpong_p99  the raw pipe floor, microseconds
//   roundtrip_vs_pipe_p50                  ratio of the two p50s, per repetition
//   roundtrip_cpu                          CPU time (supervisor and workers) per round trip
// roundtrip_p50/_p99 carry the pipe of the same repetition as their peer.
//
// A second peer, process mode, 2 workers: mp_apply_p50 / mp_apply_p99, Python's
// multiprocessing.Pool.apply(square, (i,)) round trips (as many, the first
// tenth a warm-up), run just before that case in every repetition.
#include "harness.hpp"
#include "peer_process.hpp"

#include <procpool/procpool.hpp>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

PROCPOOL_TASK(square, [](std::int64_t x) { return x * x; });

namespace {

using procpool::mode;

void write_byte(int fd) {
  const char c = 'x';
  while (::write(fd, &c, 1) != 1) {
    if (errno != EINTR) throw std::system_error(errno, std::generic_category(), "pipe write");
  }
}

/// False on end of file.
bool read_byte(int fd) {
  char c = 0;
  for (;;) {
    const ssize_t n = ::read(fd, &c, 1);
    if (n == 1) return true;
    if (n == 0) return false;
    if (errno != EINTR) throw std::system_error(errno, std::generic_category(), "pipe read");
  }
}

void echo_loop(int in, int out) {
  while (read_byte(in)) write_byte(out);
}

/// Round trips of one byte over two pipes, in microseconds each.
std::vector<double> pipe_pingpong(mode m, std::uint64_t n) {
  int ping[2];
  int pong[2];
  if (::pipe2(ping, O_CLOEXEC) != 0 || ::pipe2(pong, O_CLOEXEC) != 0) {
    throw std::system_error(errno, std::generic_category(), "pipe2");
  }
  pid_t child = -1;
  std::thread peer;
  if (m == mode::process) {
    child = ::fork();
    if (child < 0) throw std::system_error(errno, std::generic_category(), "fork");
    if (child == 0) {
      ::close(ping[1]);
      ::close(pong[0]);
      try {
        echo_loop(ping[0], pong[1]);
      } catch (...) {
        ::_exit(1);
      }
      ::_exit(0);
    }
    ::close(ping[0]);
    ::close(pong[1]);
  } else {
    peer = std::thread([r = ping[0], w = pong[1]] {
      echo_loop(r, w);
      ::close(r);
      ::close(w);
    });
  }
  std::vector<double> us;
  us.reserve(n);
  for (std::uint64_t i = 0; i < n + n / 10; ++i) {  // the first tenth warms up
    const auto t0 = bench::clock::now();
    write_byte(ping[1]);
    if (!read_byte(pong[0])) bench::fail("pipe peer went away");
    const double dt = std::chrono::duration<double, std::micro>(bench::clock::now() - t0).count();
    if (i >= n / 10) us.push_back(dt);
  }
  ::close(ping[1]);
  if (m == mode::process) {
    int status = 0;
    ::waitpid(child, &status, 0);
    ::close(pong[0]);
    bench::check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "pipe peer process failed");
  } else {
    peer.join();
    ::close(pong[0]);
  }
  return us;
}

/// Round-trip times in microseconds; `cpu_us` gets the CPU time per round trip.
std::vector<double> pool_roundtrips(mode m, int workers, std::uint64_t n, double& cpu_us) {
  procpool::pool p(procpool::options{}.with_mode(m).with_workers(workers));
  // Warm-up: start every worker (they start lazily) and settle.
  {
    std::vector<procpool::task_handle> hs;
    for (int i = 0; i < 8 * workers; ++i) hs.push_back(p.submit("warm" + std::to_string(i), "square", i));
    for (auto& h : hs) (void)h.get();
  }
  std::vector<double> us;
  us.reserve(n);
  std::optional<bench::stopwatch> sw;
  for (std::uint64_t i = 0; i < n + n / 10; ++i) {
    if (i == n / 10) sw.emplace();
    const auto x = static_cast<std::int64_t>(i);
    const auto t0 = bench::clock::now();
    const procpool::task_handle h = p.submit(std::to_string(i), "square", x);
    const auto v = h.get().get<std::int64_t>();
    const double dt = std::chrono::duration<double, std::micro>(bench::clock::now() - t0).count();
    if (v != x * x) bench::fail("square(" + std::to_string(x) + ") = " + std::to_string(v));
    if (i >= n / 10) us.push_back(dt);
  }
  sw->stop();
  cpu_us = 1e6 * sw->cpu() / static_cast<double>(us.size());
  p.close();
  p.join();
  return us;
}

}  // namespace

int main(int argc, char** argv) {
  return bench::guarded_main([&] {
    const bench::config cfg = bench::parse_args(argc, argv);
    const std::uint64_t n = cfg.items_or(10'000, 1'000);
    const int runs = cfg.runs_or(5, 2);
    std::vector<bench::bench_case> cases;
    const bench::python_peer py;
    for (const mode m : {mode::process, mode::thread}) {
      const char* mname = m == mode::process ? "process" : "thread";
      const std::string pipe_name = m == mode::process ? "pipe ping-pong, 2 processes" : "pipe ping-pong, 2 threads";
      for (const int workers : {1, 2}) {
        const nlohmann::json pipe_extra = {{"between", m == mode::process ? "processes" : "threads"}};
        bench::output p50{"roundtrip_p50", "us", {}, {{"pipe_pingpong_p50", pipe_name, false}}};
        bench::output p99{"roundtrip_p99", "us", {}, {{"pipe_pingpong_p99", pipe_name, false}}};
        if (m == mode::process && workers == 2) {
          cases.push_back({"process", {{"workers", 2}, {"items", n}}, {{"mp_apply_p50", "us"}, {"mp_apply_p99", "us"}},
                           [py, n] { return py.run("apply", {"--items", std::to_string(n), "--workers", "2"}); },
                           py.skip_reason()});
          p50.peers.push_back({"mp_apply_p50", "multiprocessing.Pool.apply", false});
          p99.peers.push_back({"mp_apply_p99", "multiprocessing.Pool.apply", false});
        }
        cases.push_back({mname,
                         {{"workers", workers}, {"items", n}},
                         {p50,
                          p99,
                          {"pipe_pingpong_p50", "us", pipe_extra},
                          {"pipe_pingpong_p99", "us", pipe_extra},
                          {"roundtrip_vs_pipe_p50", "ratio"},
                          {"roundtrip_cpu", "us/task"}},
                         [=] {
                           const std::vector<double> pipe = pipe_pingpong(m, n);
                           double cpu_us = 0;
                           const std::vector<double> rt = pool_roundtrips(m, workers, n, cpu_us);
                           const double rt50 = bench::quantile(rt, 0.50);
                           const double pipe50 = bench::quantile(pipe, 0.50);
                           return std::vector<double>{rt50, bench::quantile(rt, 0.99), pipe50,
                                                      bench::quantile(pipe, 0.99), rt50 / pipe50, cpu_us};
                         }});
      }
    }
    bench::run_interleaved(cases, runs, cfg);
  });
}
