// The restart limit (issue 3, "Restart limit"; I5): worker start failures are
// limited (max_start_failures within start_failure_window); past the limit the
// pool enters its failed state: queued tags cancelled, submits refused with
// spawn_failed and the last worker error. Never a fork storm.
#include "fault_tasks.hpp"
#include "fault_util.hpp"

#include <string>
#include <vector>

namespace {

using namespace procpool_fault;
using procpool::errc;
using steady = std::chrono::steady_clock;

class RestartLimitTest : public StartMethodTest {
 protected:
  void expect_fails_bounded(int workers, int max_failures) {
    const std::string why = "init exploded 7c1e";  // the initializer's exception text
    procpool::options o = opts(workers);
    o.initializer = "fault_init_throw";
    o.initializer_args = why;
    o.max_start_failures = max_failures;
    const auto t0 = steady::now();
    procpool::pool pool(o);

    std::vector<task_handle> accepted;
    std::string refusal;
    for (int i = 0; i < 20 && refusal.empty(); ++i) {
      try {
        accepted.push_back(pool.submit("t" + std::to_string(i), "square", i));
      } catch (const procpool::error& e) {
        EXPECT_EQ(e.code_value(), errc::spawn_failed) << e.what();
        refusal = e.what();
      }
    }
    ASSERT_FALSE(accepted.empty()) << "the first submit should be accepted: " << refusal;
    for (const auto& h : accepted) {
      EXPECT_TRUE(ends_in(h, task_state::cancelled, 30s)) << "a queued tag of a failed pool";
    }
    const auto took = steady::now() - t0;
    EXPECT_LT(took, scaled(10s)) << "the pool took too long to give up";

    // Refused from now on, with the initializer's own words.
    const std::string what = procpool_test::expect_errc(
        [&] { (void)pool.submit("late", "square", 1); }, errc::spawn_failed);
    EXPECT_TRUE(contains(what, why)) << what;
    EXPECT_TRUE(contains(what, "fault_init_throw")) << what;
    if (!refusal.empty()) {
      EXPECT_TRUE(contains(refusal, why)) << refusal;
    }

    // No fork storm: the workers that fail while the limit is reached, and not
    // one more, no matter how long we look.
    ASSERT_TRUE(wait_until([&] { return pool.stats().workers_alive == 0; }, 10s));
    const procpool::pool_stats s = pool.stats();
    const auto bound = static_cast<std::size_t>(max_failures + workers);
    EXPECT_LE(s.workers_started, bound) << "fork storm";
    EXPECT_GE(s.start_failures, static_cast<std::size_t>(max_failures + 1));
    EXPECT_EQ(s.done, 0U);
    EXPECT_EQ(s.cancelled, accepted.size());

    pool.close();  // allowed, and a no-op, on a failed pool
    pool.join();
    EXPECT_EQ(pool.stats().workers_started, s.workers_started) << "workers started after failure";
    const auto all = pool.results();
    EXPECT_EQ(all.size(), accepted.size());
    for (const auto& [tag, r] : all) EXPECT_EQ(r.state, task_state::cancelled) << tag;
  }
};

TEST_P(RestartLimitTest, InitializerThrows_DefaultLimit_FailsWithoutForkStorm) {
  expect_fails_bounded(/*workers=*/2, /*max_failures=*/procpool::options{}.max_start_failures);
}

TEST_P(RestartLimitTest, InitializerThrows_LimitOfOne_FailsAfterTwoStarts) {
  expect_fails_bounded(/*workers=*/1, /*max_failures=*/1);
}

TEST_P(RestartLimitTest, InitializerThrows_TerminateAfterFailure_Returns) {
  procpool::options o = opts(2);
  o.initializer = "fault_init_throw";
  o.initializer_args = "nope";
  o.max_start_failures = 2;
  procpool::pool pool(o);
  const task_handle h = pool.submit("t", "square", 1);
  ASSERT_TRUE(ends_in(h, task_state::cancelled, 30s));
  pool.terminate(scaled(200ms));
  pool.terminate();
  pool.join();
  EXPECT_EQ(pool.stats().workers_alive, 0U);
}

PROCPOOL_FAULT_FOR_EVERY_START_METHOD(RestartLimitTest);

}  // namespace
