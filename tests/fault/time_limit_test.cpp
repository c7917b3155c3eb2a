// Per-task time limits in process mode (issue 3, "Per-task time limit"): at the
// limit the worker's process group gets SIGTERM, then SIGKILL after kill_grace
// (also when the task ignores SIGTERM); the tag ends timed_out; the worker is
// replaced; a task's children die too. Thread mode is in thread_mode_test.cpp.
#include "fault_tasks.hpp"
#include "fault_util.hpp"

#include <csignal>
#include <string>
#include <vector>

namespace {

using namespace procpool_fault;
using steady = std::chrono::steady_clock;

procpool::task_options limit(std::chrono::milliseconds t) {
  procpool::task_options o;
  o.timeout = t;
  return o;
}

class TimeLimitTest : public StartMethodTest {
 protected:
  /// Runs fault_spawn_grandchild_and_hang under a time limit and expects the
  /// task's child to be gone soon after the tag ended timed_out.
  void expect_grandchild_killed(bool grandchild_ignores_term, bool task_ignores_term) {
    scratch_dir dir;
    auto fifo = dir.make_fifo("pids");
    procpool::options o = opts(1);
    o.kill_grace = scaled(300ms);
    procpool::pool pool(o);
    const task_handle h =
        pool.submit("spawner", "fault_spawn_grandchild_and_hang",
                    {fifo.path, grandchild_ignores_term, task_ignores_term}, limit(scaled(500ms)));
    const auto pids = read_pid_line(fifo.fd, 30s);
    ASSERT_TRUE(pids && pids->size() == 2) << "the task did not report its pids";
    const pid_t worker = (*pids)[0];
    const pid_t grandchild = (*pids)[1];
    const auto gc = identify(grandchild);
    ASSERT_TRUE(gc.has_value()) << "grandchild " << grandchild << " already gone";
    const procpool_test::scope_exit cleanup([&] { kill_if_alive(*gc); });
    const auto st = read_proc_stat(grandchild);
    ASSERT_TRUE(st.has_value());
    EXPECT_EQ(st->pgrp, worker) << "the grandchild is not in its worker's process group";

    ASSERT_TRUE(ends_in(h, task_state::timed_out, 30s));
    const procpool::result r = h.result();
    EXPECT_EQ(r.worker_pid, worker);
    EXPECT_EQ(r.signal, task_ignores_term ? SIGKILL : SIGTERM) << describe(r);
    // The grandchild dies with its worker's group: at the SIGTERM, or at the
    // SIGKILL one kill_grace later when it ignores SIGTERM.
    EXPECT_TRUE(wait_until([&] { return is_dead(*gc); }, 5s))
        << "grandchild " << grandchild << " of timed-out worker " << worker
        << " is still alive (state "
        << (read_proc_stat(grandchild) ? read_proc_stat(grandchild)->state : '?') << ", ppid "
        << (read_proc_stat(grandchild) ? read_proc_stat(grandchild)->ppid : 0) << ")";
    EXPECT_TRUE(canary_done(pool));
    pool.close();
    pool.join();
  }

};

TEST_P(TimeLimitTest, SleepPastLimit_EndsTimedOutBySigterm) {
  procpool::options o = opts(1);
  o.kill_grace = scaled(2s);
  procpool::pool pool(o);
  const auto t = scaled(300ms);
  const auto t0 = steady::now();
  const task_handle h = pool.submit("sleeper", "sleep_ms", 60000, limit(t));
  ASSERT_TRUE(ends_in(h, task_state::timed_out, 30s));
  const auto took = steady::now() - t0;
  const procpool::result r = h.result();
  EXPECT_GE(took, t) << "ended before its time limit";
  // sleep_ms dies of the SIGTERM: no need to wait for the grace.
  EXPECT_LT(took, t + o.kill_grace) << "the worker was not stopped by SIGTERM";
  EXPECT_EQ(r.signal, SIGTERM) << describe(r);
  EXPECT_EQ(r.error_type, "procpool::task_timeout") << describe(r);
  EXPECT_TRUE(contains(r.error_message, "time limit")) << describe(r);
  EXPECT_EQ(r.attempts, 1);

  EXPECT_TRUE(canary_done(pool));
  EXPECT_GE(pool.stats().workers_started, 2U) << "the timed-out worker was not replaced";
  EXPECT_EQ(pool.stats().timed_out, 1U);
  pool.close();
  pool.join();
}

TEST_P(TimeLimitTest, IgnoresSigterm_TimedOutAfterKillGraceBySigkill) {
  scratch_dir dir;
  auto fifo = dir.make_fifo("pids");
  procpool::options o = opts(1);
  o.kill_grace = scaled(500ms);
  procpool::pool pool(o);
  const auto t = scaled(300ms);
  const auto t0 = steady::now();
  const task_handle h = pool.submit("stubborn", "fault_ignore_term_and_hang", fifo.path, limit(t));
  const auto queued = pool.submit("after", "square", 5);
  ASSERT_TRUE(read_pid_line(fifo.fd, 30s).has_value()) << "the task never started";
  ASSERT_TRUE(ends_in(h, task_state::timed_out, 30s));
  const auto took = steady::now() - t0;
  const procpool::result r = h.result();
  EXPECT_EQ(r.signal, SIGKILL) << describe(r);
  EXPECT_GE(took, t + o.kill_grace) << "SIGKILL came before the grace ended";
  EXPECT_LT(took, t + o.kill_grace + scaled(5s));
  EXPECT_TRUE(ends_done(queued, 25));
  EXPECT_TRUE(canary_done(pool));
  pool.close();
  pool.join();
}

TEST_P(TimeLimitTest, TaskSpawnsChild_ChildKilledWithWorkerGroup) {
  expect_grandchild_killed(/*grandchild_ignores_term=*/false, /*task_ignores_term=*/false);
}

TEST_P(TimeLimitTest, TaskAndChildIgnoreSigterm_BothKilledAfterGrace) {
  expect_grandchild_killed(/*grandchild_ignores_term=*/true, /*task_ignores_term=*/true);
}

TEST_P(TimeLimitTest, ChildIgnoresSigterm_ChildKilledAfterGrace) {
  // The worker dies of the SIGTERM at once; its child ignores SIGTERM and must
  // still get the group's SIGKILL when kill_grace ends.
  expect_grandchild_killed(/*grandchild_ignores_term=*/true, /*task_ignores_term=*/false);
}

TEST_P(TimeLimitTest, PoolDefault_AppliesUnlessTaskOverrides) {
  procpool::options o = opts(2);
  o.task_timeout = scaled(300ms);
  o.kill_grace = scaled(300ms);
  procpool::pool pool(o);
  const task_handle stuck = pool.submit("stuck", "sleep_ms", 60000);
  const task_handle quick = pool.submit("quick", "sleep_ms", 1);
  // A task of its own limit outlives the pool default...
  const task_handle longer =
      pool.submit("longer", "sleep_ms", static_cast<int>(scaled(600ms).count()), limit(scaled(30s)));
  // ...and 0 means no limit at all.
  procpool::task_options unlimited;
  unlimited.timeout = std::chrono::milliseconds{0};
  const task_handle none =
      pool.submit("none", "sleep_ms", static_cast<int>(scaled(600ms).count()), unlimited);
  EXPECT_TRUE(ends_in(stuck, task_state::timed_out));
  EXPECT_TRUE(ends_done(quick, 1));
  EXPECT_TRUE(ends_in(longer, task_state::done));
  EXPECT_TRUE(ends_in(none, task_state::done));
  EXPECT_TRUE(canary_done(pool));
  pool.close();
  pool.join();
  EXPECT_EQ(pool.stats().timed_out, 1U);
}

TEST_P(TimeLimitTest, CloseJoin_StuckTask_ReturnsAfterItsTimeLimit) {
  procpool::options o = opts(1);
  o.kill_grace = scaled(500ms);
  procpool::pool pool(o);
  const auto t = scaled(500ms);
  const task_handle stuck = pool.submit("stuck", "sleep_ms", 120000, limit(t));
  std::vector<task_handle> behind;
  for (int i = 0; i < 4; ++i) behind.push_back(pool.submit("b" + std::to_string(i), "square", i));
  pool.close();
  const auto t0 = steady::now();
  pool.join();
  const auto took = steady::now() - t0;
  EXPECT_LT(took, t + o.kill_grace + scaled(5s)) << "join() outlived the stuck task's time limit";
  EXPECT_TRUE(stuck.ready());
  EXPECT_TRUE(ends_in(stuck, task_state::timed_out, 1s));
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(ends_done(behind[static_cast<std::size_t>(i)], i * i, 1s));
  EXPECT_EQ(pool.stats().workers_alive, 0U);
}

TEST_P(TimeLimitTest, CloseJoin_StuckTaskIgnoringSigterm_ReturnsAfterLimitAndGrace) {
  scratch_dir dir;
  auto fifo = dir.make_fifo("pids");
  procpool::options o = opts(2);
  o.kill_grace = scaled(500ms);
  procpool::pool pool(o);
  const auto t = scaled(300ms);
  const task_handle stuck = pool.submit("stuck", "fault_ignore_term_and_hang", fifo.path, limit(t));
  ASSERT_TRUE(read_pid_line(fifo.fd, 30s).has_value());
  pool.close();
  const auto t0 = steady::now();
  pool.join();
  const auto took = steady::now() - t0;
  EXPECT_LT(took, t + o.kill_grace + scaled(5s));
  EXPECT_TRUE(ends_in(stuck, task_state::timed_out, 1s));
  EXPECT_EQ(stuck.result().signal, SIGKILL);
}

PROCPOOL_FAULT_FOR_EVERY_START_METHOD(TimeLimitTest);

}  // namespace
