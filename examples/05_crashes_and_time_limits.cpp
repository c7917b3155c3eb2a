// 05_crashes_and_time_limits.cpp: why process mode exists. Tasks that crash,
// exit, hang or fail now and then, and a pool that keeps serving through all of it.
//
// In Python's multiprocessing.Pool a worker that segfaults leaves its task's
// result pending forever. In procpool's process mode every tag still ends in
// exactly one terminal state:
//
//   crashed    the worker died: result::signal or result::exit_code says how
//   timed_out  the task ran past its time limit: SIGTERM, then SIGKILL
//   done       possibly after retries (result::attempts)
//
// and a new worker takes over from the dead one.
//
// Run: ./05_crashes_and_time_limits   (process mode only: in thread mode a crash
// would take this whole program down, which is the point of the comparison)
// Exits 0 only if every tag ended as expected and the pool still served after.

#include <procpool/procpool.hpp>

#include <sys/resource.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

// Crashing on purpose: no core file, please.
void no_core_dump() {
  const rlimit none{0, 0};
  (void)::setrlimit(RLIMIT_CORE, &none);
}

// Dies by a signal, as a segfault would.
int segfault(int x) {
  no_core_dump();
  std::raise(SIGSEGV);
  return x;  // not reached
}

// Leaves the process abruptly, skipping everything procpool does after a task.
int quit(int code) {
  std::_Exit(code);
  return code;  // not reached
}

// Never finishes on its own. A well-behaved long task polls stop_requested(),
// which is also how it would end in thread mode.
int hang(procpool::task_context& ctx, int seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!ctx.stop_requested() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return 0;
}

// Fails on its first attempt, succeeds on the next: the pool's retries absorb it.
std::string flaky(procpool::task_context& ctx, const std::string& name) {
  if (ctx.attempt() < 2) throw std::runtime_error("transient failure of " + name);
  return name + " ok on attempt " + std::to_string(ctx.attempt());
}

int square(int x) { return x * x; }

}  // namespace

PROCPOOL_TASK(segfault, segfault);
PROCPOOL_TASK(quit, quit);
PROCPOOL_TASK(hang, hang);
PROCPOOL_TASK(flaky, flaky);
PROCPOOL_TASK(square, square);

namespace {

int failures = 0;

void expect(bool ok, std::string_view what) {
  std::cout << (ok ? "  ok   " : "  FAIL ") << what << '\n';
  if (!ok) ++failures;
}

void show(const procpool::result& r) {
  std::cout << r.tag << ": " << procpool::to_string(r.state);
  if (r.signal) std::cout << ", signal " << *r.signal;
  if (r.exit_code) std::cout << ", exit code " << *r.exit_code;
  if (!r.error_message.empty()) std::cout << " (" << r.error_type << ": " << r.error_message << ")";
  if (r.ok()) std::cout << " -> " << r.value.dump();
  std::cout << ", attempts " << r.attempts << '\n';
}

}  // namespace

int main() {
  procpool::pool pool({.mode = procpool::mode::process, .workers = 2});

  // 1. Per-submission settings: a time limit for the hanging task, retries for
  //    the flaky one. (options::task_timeout and options::retries set them for
  //    every task of the pool.)
  auto crash = pool.submit("segfault", "segfault", 1);
  auto exit3 = pool.submit("exit-3", "quit", 3);
  auto stuck = pool.submit("hang", "hang", 60,
                           procpool::task_options{.timeout = std::chrono::milliseconds(300)});
  auto retry = pool.submit("flaky", "flaky", "job-7", procpool::task_options{.retries = 2});

  // 2. Each tag ends in its own state; the others are untouched.
  const procpool::result rc = crash.result();
  show(rc);
  expect(rc.state == procpool::task_state::crashed, "segfault: crashed");
  expect(rc.signal.has_value() || rc.exit_code.has_value(), "segfault: says how the worker died");

  const procpool::result re = exit3.result();
  show(re);
  expect(re.state == procpool::task_state::crashed && re.exit_code == 3,
         "exit-3: crashed with exit code 3");

  const procpool::result rh = stuck.result();
  show(rh);
  expect(rh.state == procpool::task_state::timed_out, "hang: timed_out after 300 ms");

  const procpool::result rf = retry.result();
  show(rf);
  expect(rf.ok() && rf.attempts == 2 && rf.value == "job-7 ok on attempt 2",
         "flaky: done on its second attempt");

  // 3. get() turns a crash into an exception carrying the cause.
  try {
    (void)crash.get();
    expect(false, "get() of a crashed tag throws");
  } catch (const procpool::task_error& e) {
    std::cout << "  task_error: " << e.what() << '\n';
    expect(e.code_value() == procpool::errc::worker_crashed, "errc::worker_crashed");
  }

  // 4. The pool is still serving: new workers replaced the dead ones.
  const std::vector<nlohmann::json> after = pool.map("square", std::vector<int>{1, 2, 3});
  expect(after == std::vector<nlohmann::json>{1, 4, 9}, "map after the crashes still works");

  pool.close();
  pool.join();

  const procpool::pool_stats s = pool.stats();
  std::cout << "workers_started=" << s.workers_started << " worker_deaths=" << s.worker_deaths
            << " crashed=" << s.crashed << " timed_out=" << s.timed_out << '\n';
  expect(s.crashed == 2 && s.timed_out == 1, "stats count 2 crashed, 1 timed_out");
  expect(s.worker_deaths >= 3, "stats count the dead workers");

  std::cout << (failures == 0 ? "OK" : "FAILED") << '\n';
  return failures == 0 ? 0 : 1;
}
