// Task registrations for the pool tests. See test_tasks.hpp for the list.
#include "test_tasks.hpp"

#include "test_util.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>
#include <thread>

namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// --- the initializer's record -------------------------------------------------
// Keyed by pid: a forked worker inherits the parent's values, which must not
// count as runs in the worker.
std::atomic<int> g_init_pid{0};
std::atomic<int> g_init_runs{0};
thread_local int tl_init_pid = 0;
thread_local int tl_init_runs = 0;
thread_local int tl_init_value = 0;

int this_pid() noexcept { return static_cast<int>(::getpid()); }

std::chrono::steady_clock::time_point helper_deadline() {
  return std::chrono::steady_clock::now() + procpool_test::scaled(120s);
}

int run_gate(procpool::task_context& ctx, const std::string& fifo) {
  // O_NONBLOCK: opening never waits for a writer (the test holds the FIFO open
  // read-write, so there is always one and poll() never reports a hang-up).
  const procpool_test::unique_fd fd{::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC)};
  if (!fd.valid()) throw std::runtime_error("gate: cannot open " + fifo);
  const auto deadline = helper_deadline();
  while (!ctx.stop_requested()) {
    if (std::chrono::steady_clock::now() >= deadline) throw std::runtime_error("gate: timed out");
    pollfd p{fd.get(), POLLIN, 0};
    const int n = ::poll(&p, 1, 20);
    if (n <= 0) continue;
    unsigned char c = 0;
    const ssize_t r = ::read(fd.get(), &c, 1);
    if (r == 1) return c;
    if (r == 0) throw std::runtime_error("gate: FIFO has no writer");
    if (errno != EAGAIN && errno != EINTR) throw std::runtime_error("gate: read failed");
    // EAGAIN: another gate task took the byte; wait for the next one.
  }
  return -1;
}

void run_report_pid_and_hang(procpool::task_context& ctx, const std::string& fifo) {
  {
    const procpool_test::unique_fd fd{::open(fifo.c_str(), O_WRONLY | O_CLOEXEC)};
    if (!fd.valid()) throw std::runtime_error("report_pid_and_hang: cannot open " + fifo);
    const std::string text = std::to_string(this_pid()) + "\n";
    if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
      throw std::runtime_error("report_pid_and_hang: write failed");
    }
  }
  const auto deadline = helper_deadline();
  while (!ctx.stop_requested() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);  // the "work": hang until killed
  }
}

}  // namespace

namespace procpool_test {

void reset_initializer_record() noexcept {
  g_init_pid.store(this_pid());
  g_init_runs.store(0);
}

int initializer_runs_in_this_process() noexcept {
  return g_init_pid.load() == this_pid() ? g_init_runs.load() : 0;
}

}  // namespace procpool_test

PROCPOOL_TASK(square, [](int x) { return x * x; });
PROCPOOL_TASK(add, [](int a, int b) { return a + b; });
PROCPOOL_TASK(echo, [](const json& j) { return j; });
PROCPOOL_TASK(noop, []() {});
// One container parameter: takes [1,2,3] and [[1,2,3]] alike (see PROCPOOL_TASK).
PROCPOOL_TASK(sum, [](const std::vector<int>& v) {
  int total = 0;
  for (const int x : v) total += x;
  return total;
});
PROCPOOL_TASK(throw_runtime, [](const std::string& msg) -> int { throw std::runtime_error(msg); });
PROCPOOL_TASK(throw_logic, [](const std::string& msg) -> int { throw std::logic_error(msg); });
PROCPOOL_TASK(fail_if_negative, [](int x) {
  if (x < 0) throw std::runtime_error("negative " + std::to_string(x));
  return x;
});
PROCPOOL_TASK(sleep_ms, [](int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds{ms});
  return ms;
});
PROCPOOL_TASK(pid, []() { return this_pid(); });
PROCPOOL_TASK(repeat, [](int n) { return std::string(static_cast<std::size_t>(n), 'x'); });
PROCPOOL_TASK(ctx_info, [](procpool::task_context& ctx) {
  return json{{"tag", std::string(ctx.tag())},
              {"task", std::string(ctx.task_name())},
              {"attempt", ctx.attempt()},
              {"worker_index", ctx.worker_index()},
              {"pid", this_pid()}};
});
PROCPOOL_TASK(gate, run_gate);
PROCPOOL_TASK(hang_until_stopped, [](procpool::task_context& ctx) {
  const auto deadline = helper_deadline();
  while (!ctx.stop_requested() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);  // the "work": wait to be stopped
  }
  return ctx.stop_requested() ? "stopped" : "deadline";
});
PROCPOOL_TASK(fail_before_attempt, [](procpool::task_context& ctx, int n) {
  if (ctx.attempt() < n) {
    throw std::runtime_error("attempt " + std::to_string(ctx.attempt()) + " fails");
  }
  return ctx.attempt();
});
PROCPOOL_TASK(report_pid_and_hang, run_report_pid_and_hang);
PROCPOOL_TASK(init_mark, [](int v) {
  const int me = this_pid();
  if (g_init_pid.load() != me) {
    g_init_pid.store(me);
    g_init_runs.store(0);
  }
  g_init_runs.fetch_add(1);
  if (tl_init_pid != me) {
    tl_init_pid = me;
    tl_init_runs = 0;
  }
  ++tl_init_runs;
  tl_init_value = v;
});
PROCPOOL_TASK(init_info, []() {
  const int me = this_pid();
  const bool thread_ran = tl_init_pid == me;
  return json{{"process_runs", procpool_test::initializer_runs_in_this_process()},
              {"thread_runs", thread_ran ? tl_init_runs : 0},
              {"value", thread_ran ? json(tl_init_value) : json(nullptr)},
              {"pid", me}};
});
