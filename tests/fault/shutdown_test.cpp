// Bounded shutdown (issue 3, "Bounded shutdown"; I2, I3): terminate(grace)
// returns within the grace plus a small constant even when tasks ignore
// SIGTERM, every waiter wakes with a terminal state, no zombie remains. The
// bounds asserted here are the documented guarantee, stretched by the test
// timeout multiplier; they are not performance claims.
#include "fault_tasks.hpp"
#include "fault_util.hpp"

#include <future>
#include <string>
#include <vector>

namespace {

using namespace procpool_fault;
using steady = std::chrono::steady_clock;

/// "Within the grace plus a small constant": one second, scaled.
std::chrono::milliseconds shutdown_slack() { return scaled(1s); }

class ShutdownTest : public StartMethodTest {
 protected:
  struct stuck_pool {
    std::vector<task_handle> running;
    std::vector<task_handle> queued;
    std::vector<pid_t> worker_pids;  ///< of the running tasks
  };

  /// I3 right when terminate() or the destructor returned: the workers are
  /// reaped (their pids are free), and no descendant is a zombie.
  static void expect_workers_reaped(const stuck_pool& s) {
    for (const pid_t p : s.worker_pids) {
      errno = 0;
      EXPECT_TRUE(::kill(p, 0) == -1 && errno == ESRCH)
          << "worker " << p << " not reaped when the shutdown call returned";
    }
    const auto z = zombies(descendants());
    EXPECT_TRUE(z.empty()) << "zombies:" << describe(z);
  }

  /// Starts `workers` tasks that ignore SIGTERM and stop requests (and waits
  /// until each has installed SIG_IGN), then queues `queued` more.
  static stuck_pool fill(procpool::pool& pool, scratch_dir::fifo& fifo, int workers, int queued) {
    stuck_pool s;
    for (int i = 0; i < workers; ++i) {
      s.running.push_back(
          pool.submit("stuck" + std::to_string(i), "fault_ignore_term_and_hang", fifo.path));
    }
    for (int i = 0; i < queued; ++i) {
      s.queued.push_back(pool.submit("q" + std::to_string(i), "square", i));
    }
    for (int i = 0; i < workers; ++i) {
      const auto pids = read_pid_line(fifo.fd, 30s);
      EXPECT_TRUE(pids && pids->size() == 1) << "a stuck task never started";
      if (pids && !pids->empty()) s.worker_pids.push_back(pids->front());
    }
    return s;
  }
};

TEST_P(ShutdownTest, Terminate_TasksIgnoreSigterm_ReturnsWithinGrace) {
  scratch_dir dir;
  auto fifo = dir.make_fifo("pids");
  procpool::pool pool(opts(2));
  const stuck_pool s = fill(pool, fifo, 2, 5);
  ASSERT_FALSE(HasFailure());

  // Waiters blocked before terminate() must all wake.
  auto all_waiter = std::async(std::launch::async, [&] { return pool.results(); });
  auto one_waiter = std::async(std::launch::async, [&] { return pool.result("stuck0"); });

  const auto grace = scaled(500ms);
  const auto t0 = steady::now();
  pool.terminate(grace);
  const auto took = steady::now() - t0;
  EXPECT_LT(took, grace + shutdown_slack()) << "terminate(grace) outlived its bound";
  EXPECT_GE(took, grace - 50ms) << "the stuck tasks cannot have stopped before the grace ended";

  for (const auto& h : s.running) {
    EXPECT_TRUE(h.ready()) << h.tag() << " not ready when terminate() returned";
    EXPECT_TRUE(ends_in(h, task_state::cancelled, 1s));
    EXPECT_EQ(h.result().signal, SIGKILL) << describe(h.result());
  }
  for (const auto& h : s.queued) {
    EXPECT_TRUE(h.ready()) << h.tag();
    EXPECT_TRUE(ends_in(h, task_state::cancelled, 1s));
  }
  ASSERT_EQ(all_waiter.wait_for(scaled(2s)), std::future_status::ready) << "results() still blocked";
  ASSERT_EQ(one_waiter.wait_for(scaled(2s)), std::future_status::ready) << "result() still blocked";
  const auto all = all_waiter.get();
  EXPECT_EQ(all.size(), 7U);
  for (const auto& [tag, r] : all) EXPECT_EQ(r.state, task_state::cancelled) << describe(r);
  EXPECT_EQ(one_waiter.get().state, task_state::cancelled);

  // Reaped by the time terminate() returned: no worker, no zombie.
  expect_workers_reaped(s);
  EXPECT_EQ(pool.stats().workers_alive, 0U);
  pool.join();
}

TEST_P(ShutdownTest, Terminate_ZeroGrace_KillsAtOnce) {
  scratch_dir dir;
  auto fifo = dir.make_fifo("pids");
  procpool::pool pool(opts(2));
  const stuck_pool s = fill(pool, fifo, 2, 2);
  ASSERT_FALSE(HasFailure());
  const auto t0 = steady::now();
  pool.terminate(std::chrono::milliseconds{0});
  EXPECT_LT(steady::now() - t0, shutdown_slack());
  for (const auto& h : s.running) EXPECT_TRUE(ends_in(h, task_state::cancelled, 1s));
  for (const auto& h : s.queued) EXPECT_TRUE(ends_in(h, task_state::cancelled, 1s));
  expect_workers_reaped(s);
}

TEST_P(ShutdownTest, Destructor_TasksIgnoreSigterm_BoundedByTerminateGrace) {
  scratch_dir dir;
  auto fifo = dir.make_fifo("pids");
  const auto grace = scaled(300ms);
  procpool::options o = opts(3);
  o.terminate_grace = grace;
  std::optional<procpool::pool> pool;
  pool.emplace(o);
  const stuck_pool s = fill(*pool, fifo, 3, 4);
  ASSERT_FALSE(HasFailure());

  // ~pool: terminate() with options::terminate_grace, then wait for the workers.
  const auto t0 = steady::now();
  pool.reset();
  EXPECT_LT(steady::now() - t0, grace + shutdown_slack()) << "the destructor outlived its bound";

  // Handles outlive the pool, each with its terminal state.
  for (const auto& h : s.running) {
    EXPECT_TRUE(ends_in(h, task_state::cancelled, 1s));
    EXPECT_EQ(h.result().signal, SIGKILL) << describe(h.result());
  }
  for (const auto& h : s.queued) EXPECT_TRUE(ends_in(h, task_state::cancelled, 1s));
  expect_workers_reaped(s);
}

TEST_P(ShutdownTest, Terminate_QueuedTags_CancelledWithoutAnAttempt) {
  // result::attempts is documented as "how many times the task was started":
  // a tag dropped from the queue was never started.
  scratch_dir dir;
  auto fifo = dir.make_fifo("pids");
  procpool::pool pool(opts(1));
  const stuck_pool s = fill(pool, fifo, 1, 3);
  ASSERT_FALSE(HasFailure());
  pool.terminate(std::chrono::milliseconds{0});
  for (const auto& h : s.queued) {
    ASSERT_TRUE(ends_in(h, task_state::cancelled, 1s));
    EXPECT_EQ(h.result().attempts, 0) << describe(h.result());
  }
  EXPECT_EQ(s.running.front().result().attempts, 1);
}

PROCPOOL_FAULT_FOR_EVERY_START_METHOD(ShutdownTest);

}  // namespace
