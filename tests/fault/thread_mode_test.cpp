// Time limits and shutdown in thread mode (issue 3: "Thread mode: timed_out plus
// a stop token the task can check; the limit of thread mode is documented").
// A thread cannot be killed: at its limit the tag ends timed_out and the task
// sees task_context::stop_requested(); the thread returns when the task does.
// No fork here, so this executable runs under TSan too.
#include "fault_tasks.hpp"
#include "fault_util.hpp"

#include <string>
#include <vector>

namespace {

using namespace procpool_fault;
using steady = std::chrono::steady_clock;

procpool::options thread_opts(int workers) {
  procpool::options o;
  o.mode = procpool::mode::thread;
  o.workers = workers;
  return o;
}

class ThreadModeFaultTest : public FaultTest {
 protected:
  void SetUp() override {
    FaultTest::SetUp();
    reset_stop_record();
  }
};

TEST_F(ThreadModeFaultTest, TaskPastLimit_TimedOutAndTaskSeesStopRequested) {
  procpool::pool pool(thread_opts(1));
  procpool::task_options t;
  t.timeout = scaled(200ms);
  const auto t0 = steady::now();
  const task_handle h = pool.submit("poller", "fault_poll_stop", nullptr, t);
  ASSERT_TRUE(ends_in(h, task_state::timed_out, 30s));
  EXPECT_GE(steady::now() - t0, *t.timeout) << "ended before its limit";
  const procpool::result r = h.result();
  EXPECT_EQ(r.error_type, "procpool::task_timeout") << describe(r);
  EXPECT_EQ(r.worker_pid, ::getpid());
  EXPECT_FALSE(r.signal.has_value()) << describe(r);
  // The task itself (on a thread of this process) saw the stop request.
  EXPECT_TRUE(wait_until([] { return stop_seen() == 1; }, 10s))
      << "the task never saw stop_requested(); pollers started: " << stop_pollers_started();
  // Its late "done" report does not change the terminal state.
  EXPECT_TRUE(canary_done(pool));
  EXPECT_EQ(h.result().state, task_state::timed_out);
  pool.close();
  pool.join();
  const procpool::pool_stats s = pool.stats();
  EXPECT_EQ(s.timed_out, 1U);
  EXPECT_EQ(s.done, 1U);
}

TEST_F(ThreadModeFaultTest, PoolDefaultLimit_AppliesToEveryTask) {
  procpool::options o = thread_opts(2);
  o.task_timeout = scaled(200ms);
  procpool::pool pool(o);
  const task_handle a = pool.submit("a", "fault_poll_stop");
  const task_handle b = pool.submit("b", "fault_poll_stop");
  const task_handle quick = pool.submit("quick", "square", 3);
  EXPECT_TRUE(ends_in(a, task_state::timed_out));
  EXPECT_TRUE(ends_in(b, task_state::timed_out));
  EXPECT_TRUE(ends_done(quick, 9));
  EXPECT_TRUE(wait_until([] { return stop_seen() == 2; }, 10s));
  pool.close();
  pool.join();
}

TEST_F(ThreadModeFaultTest, CloseJoin_StuckTask_ReturnsAfterItsTimeLimit) {
  procpool::pool pool(thread_opts(1));
  procpool::task_options t;
  t.timeout = scaled(300ms);
  const task_handle stuck = pool.submit("stuck", "fault_poll_stop", nullptr, t);
  std::vector<task_handle> behind;
  for (int i = 0; i < 4; ++i) behind.push_back(pool.submit("b" + std::to_string(i), "square", i));
  pool.close();
  const auto t0 = steady::now();
  pool.join();
  EXPECT_LT(steady::now() - t0, *t.timeout + scaled(5s));
  EXPECT_TRUE(ends_in(stuck, task_state::timed_out, 1s));
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(ends_done(behind[static_cast<std::size_t>(i)], i * i, 1s));
  EXPECT_EQ(stop_seen(), 1);
}

TEST_F(ThreadModeFaultTest, Terminate_RunningTasksSeeStopAndReturnWithinGrace) {
  procpool::pool pool(thread_opts(2));
  const task_handle a = pool.submit("a", "fault_poll_stop");
  const task_handle b = pool.submit("b", "fault_poll_stop");
  const task_handle q = pool.submit("q", "square", 2);
  ASSERT_TRUE(wait_until([] { return stop_pollers_started() == 2; }, 10s));
  const auto grace = scaled(500ms);
  const auto t0 = steady::now();
  pool.terminate(grace);
  EXPECT_LT(steady::now() - t0, grace + scaled(1s));
  for (const auto* h : {&a, &b}) {
    ASSERT_TRUE(h->ready());
    // Asked to stop, the task returns: done if it got there first, else cancelled.
    EXPECT_TRUE(h->state() == task_state::cancelled || h->state() == task_state::done)
        << describe(h->result());
  }
  EXPECT_TRUE(ends_in(q, task_state::cancelled, 1s));
  EXPECT_TRUE(wait_until([] { return stop_seen() == 2; }, 10s));
  pool.join();
}

}  // namespace
