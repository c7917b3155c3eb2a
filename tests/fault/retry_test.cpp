// Retries (issue 3, "Retries"): retries = N per pool and per submission; each
// attempt is recorded; a task that crashes on every attempt ends crashed after
// exactly N+1 attempts; a flaky one ends done with the attempt it took.
#include "fault_tasks.hpp"
#include "fault_util.hpp"

#include <csignal>
#include <string>
#include <vector>

namespace {

using namespace procpool_fault;

procpool::task_options retries(int n) {
  procpool::task_options o;
  o.retries = n;
  return o;
}

class RetryTest : public FaultTest {};

TEST_F(RetryTest, CrashEveryAttempt_PoolRetries_CrashedAfterNPlusOneAttempts) {
  constexpr int n = 3;
  procpool::options o = process_opts(2);
  o.retries = n;
  procpool::pool pool(o);
  const task_handle h = pool.submit("doomed", "fault_exit", 3);
  std::vector<task_handle> sibs;
  for (int i = 0; i < 10; ++i) sibs.push_back(pool.submit("s" + std::to_string(i), "square", i));

  ASSERT_TRUE(ends_in(h, task_state::crashed, 60s));
  const procpool::result r = h.result();
  EXPECT_EQ(r.attempts, n + 1) << describe(r);
  EXPECT_EQ(r.exit_code, 3) << describe(r);
  ASSERT_EQ(r.attempt_errors.size(), static_cast<std::size_t>(n)) << describe(r);
  for (const auto& why : r.attempt_errors) {
    EXPECT_TRUE(contains(why, "crashed")) << why;
    EXPECT_TRUE(contains(why, "exited with code 3")) << why;
  }
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(ends_done(sibs[static_cast<std::size_t>(i)], i * i));
    EXPECT_EQ(sibs[static_cast<std::size_t>(i)].result().attempts, 1);
  }
  EXPECT_TRUE(canary_done(pool));
  const procpool::pool_stats s = pool.stats();
  EXPECT_EQ(s.crashed, 1U);
  EXPECT_GE(s.worker_deaths, static_cast<std::size_t>(n + 1));
  pool.close();
  pool.join();
}

TEST_F(RetryTest, CrashEveryAttempt_PerSubmissionRetries_OverridePool) {
  procpool::options o = process_opts(1);
  o.retries = 5;
  procpool::pool pool(o);
  const task_handle two = pool.submit("two", "fault_sigkill_self", nullptr, retries(2));
  const task_handle none = pool.submit("none", "fault_sigkill_self", nullptr, retries(0));
  ASSERT_TRUE(ends_in(two, task_state::crashed, 60s));
  ASSERT_TRUE(ends_in(none, task_state::crashed, 60s));
  EXPECT_EQ(two.result().attempts, 3) << describe(two.result());
  EXPECT_EQ(two.result().attempt_errors.size(), 2U);
  EXPECT_EQ(two.result().signal, SIGKILL);
  EXPECT_EQ(none.result().attempts, 1) << describe(none.result());
  EXPECT_TRUE(none.result().attempt_errors.empty());
  EXPECT_TRUE(canary_done(pool));
  pool.close();
  pool.join();
}

TEST_F(RetryTest, CrashesTwice_DoneOnThirdAttempt) {
  procpool::pool pool(process_opts(2));
  const task_handle h = pool.submit("flaky", "fault_crash_before_attempt", 3, retries(5));
  ASSERT_TRUE(ends_done(h, 3, 60s));
  const procpool::result r = h.result();
  EXPECT_EQ(r.attempts, 3);
  ASSERT_EQ(r.attempt_errors.size(), 2U) << describe(r);
  for (const auto& why : r.attempt_errors) {
    EXPECT_TRUE(contains(why, "crashed")) << why;
    EXPECT_TRUE(contains(why, "SIGKILL")) << why;
  }
  EXPECT_TRUE(canary_done(pool));
  pool.close();
  pool.join();
  EXPECT_EQ(pool.stats().crashed, 0U);
  EXPECT_EQ(pool.stats().done, 2U);
}

TEST_F(RetryTest, ThrowsTwice_DoneOnThirdAttempt) {
  procpool::pool pool(process_opts(2));
  const task_handle h = pool.submit("flaky", "fail_before_attempt", 3, retries(3));
  ASSERT_TRUE(ends_done(h, 3, 60s));
  const procpool::result r = h.result();
  EXPECT_EQ(r.attempts, 3);
  ASSERT_EQ(r.attempt_errors.size(), 2U) << describe(r);
  EXPECT_TRUE(contains(r.attempt_errors[0], "attempt 1 fails")) << r.attempt_errors[0];
  EXPECT_TRUE(contains(r.attempt_errors[1], "attempt 2 fails")) << r.attempt_errors[1];
  pool.close();
  pool.join();
}

TEST_F(RetryTest, TimesOutEveryAttempt_TimedOutAfterNPlusOneAttempts) {
  procpool::options o = process_opts(1);
  o.kill_grace = scaled(300ms);
  procpool::pool pool(o);
  procpool::task_options t;
  t.timeout = scaled(200ms);
  t.retries = 2;
  const task_handle h = pool.submit("slow", "sleep_ms", 60000, t);
  ASSERT_TRUE(ends_in(h, task_state::timed_out, 60s));
  const procpool::result r = h.result();
  EXPECT_EQ(r.attempts, 3) << describe(r);
  ASSERT_EQ(r.attempt_errors.size(), 2U) << describe(r);
  for (const auto& why : r.attempt_errors) EXPECT_TRUE(contains(why, "timed_out")) << why;
  EXPECT_TRUE(canary_done(pool));
  pool.close();
  pool.join();
}

}  // namespace
