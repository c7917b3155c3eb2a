// Family 5: the cost of a short-lived pool. With 2 workers (the cap; one
// starts, lazily, for the one task): construct the pool, submit one task and
// get() its result, close(), join(). Per start method (fork_server, fork,
// spawn) and in thread mode.
//
//   start_first_close_join    constructor .. join() returns, microseconds
//   start_to_destroyed        the same plus the destructor
//   first_result              constructor .. the first get() returns
// and the floor of the machine, measured in the same repetitions (mode "raw"):
//   fork_floor                fork() + the child's _exit + waitpid
//   exec_floor                posix_spawn of this program, which exits at the
//                             top of main() (the loader and static initialisers
//                             run, as for a spawned worker) + waitpid
//
// start_first_close_join of each start method is compared with the fork floor
// of the same repetition and with a peer run just before the fork_server case:
//   mp_pool_lifecycle         Python's multiprocessing (start method "fork"):
//                             Pool(2) + apply(square, (7,)) + close() + join(),
//                             timed inside the script (interpreter start-up
//                             and imports not counted)
#include "harness.hpp"
#include "peer_process.hpp"

#include <procpool/procpool.hpp>
#include <procpool/worker/worker_main.hpp>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <system_error>
#include <vector>

extern char** environ;

PROCPOOL_TASK(square, [](std::int64_t x) { return x * x; });

namespace {

using procpool::mode;
using procpool::start_method;

std::vector<double> lifecycle(mode m, start_method s) {
  using us = std::chrono::duration<double, std::micro>;
  const auto t0 = bench::clock::now();
  double first = 0;
  double joined = 0;
  {
    procpool::pool p(procpool::options{}.with_mode(m).with_start(s).with_workers(2));
    const auto v = p.submit("first", "square", 7).get().get<std::int64_t>();
    first = us(bench::clock::now() - t0).count();
    bench::check(v == 49, "square(7) = " + std::to_string(v));
    p.close();
    p.join();
    joined = us(bench::clock::now() - t0).count();
  }
  const double destroyed = us(bench::clock::now() - t0).count();
  return {joined, destroyed, first};
}

constexpr const char* exit_now_flag = "--exit-now";

double fork_floor() {
  const auto t0 = bench::clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0) ::_exit(0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  const double us = std::chrono::duration<double, std::micro>(bench::clock::now() - t0).count();
  bench::check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "forked child failed");
  return us;
}

double exec_floor() {
  char self[] = "/proc/self/exe";
  std::string flag = exit_now_flag;
  char* argv[] = {self, flag.data(), nullptr};
  const auto t0 = bench::clock::now();
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, self, nullptr, nullptr, argv, environ);
  if (rc != 0) throw std::system_error(rc, std::generic_category(), "posix_spawn");
  int status = 0;
  ::waitpid(pid, &status, 0);
  const double us = std::chrono::duration<double, std::micro>(bench::clock::now() - t0).count();
  bench::check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "spawned program failed");
  return us;
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
  if (argc == 2 && std::strcmp(argv[1], exit_now_flag) == 0) return 0;  // exec_floor
  return bench::guarded_main([&] {
    const bench::config cfg = bench::parse_args(argc, argv);
    const int runs = cfg.runs_or(30, 5);
    const std::vector<bench::output> outs = {
        {"start_first_close_join", "us"}, {"start_to_destroyed", "us"}, {"first_result", "us"}};
    std::vector<bench::bench_case> cases;
    const bench::python_peer py;
    cases.push_back({"process", {{"workers", 2}, {"start", "fork"}}, {{"mp_pool_lifecycle", "us"}},
                     [py] { return py.run("lifecycle", {"--workers", "2"}); }, py.skip_reason()});
    for (const start_method s : {start_method::fork_server, start_method::fork, start_method::spawn}) {
      std::vector<bench::output> compared = outs;
      compared[0].peers = {{"fork_floor", "fork() + _exit + waitpid", false},
                           {"mp_pool_lifecycle", "multiprocessing.Pool start + apply + close + join", false}};
      cases.push_back({"process", {{"workers", 2}, {"start", start_name(s)}}, compared,
                       [=] { return lifecycle(mode::process, s); }});
    }
    cases.push_back({"thread", {{"workers", 2}}, outs, [] { return lifecycle(mode::thread, start_method::fork_server); }});
    cases.push_back({"raw", nlohmann::json::object(), {{"fork_floor", "us"}, {"exec_floor", "us"}},
                     [] { return std::vector<double>{fork_floor(), exec_floor()}; }});
    bench::run_interleaved(cases, runs, cfg);
  });
}
