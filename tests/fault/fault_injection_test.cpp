// A worker killed inside a critical section of the shared structures (issue 3:
// "A worker killed while holding a shared lock", "killed between writing a
// result and publishing it"). The library's fault seam
// (shared/include/procpool/shared/detail/fault.hpp) SIGKILLs the first worker
// that reaches a named point; the environment variable PROCPOOL_FAULT_INJECT
// arms it and the marker file proves that it fired.
//
// Each case runs many tags on a few workers and asserts I1 (results() holds
// every tag exactly once, in the expected states, every done value correct:
// never a torn done), I2 (a canary submitted after the fault ends done, and
// nobody hangs on the robust mutex) and I3 (fixture).
#include "fault_tasks.hpp"
#include "fault_util.hpp"

#include <csignal>
#include <set>
#include <string>

namespace {

using namespace procpool_fault;

constexpr int tag_count = 200;

struct expectation {
  const char* point;
  int workers;
  int retries;
  std::size_t crashed;  ///< how many tags end crashed (by SIGKILL)
  std::size_t retried;  ///< how many tags need a second attempt (with retries)
};

class FaultInjectionTest : public StartMethodTest {
 protected:
  void run_point(const expectation& e) {
#ifndef PROCPOOL_FAULT_INJECTION
    GTEST_SKIP() << "built without PROCPOOL_FAULT_INJECTION";
#endif
    scratch_dir dir;
    const std::string marker = dir.file("fired");
    std::map<std::string, procpool::result> all;
    {
      const fault_injection_env env(e.point, marker);
      procpool::options o = opts(e.workers);
      o.retries = e.retries;
      procpool::pool pool(o);
      std::set<std::string> tags;
      for (int i = 0; i < tag_count; ++i) {
        const std::string tag = "t" + std::to_string(i);
        tags.insert(tag);
        (void)pool.submit(tag, "square", i);
      }
      all = pool.results();  // must not hang
      ASSERT_TRUE(every_tag_once(all, tags));

      // The fault fired (some points are reached only once the queue runs
      // dry, so wait for it) and the pool saw the worker die.
      ASSERT_TRUE(wait_until(
          [&] { return file_exists(marker) && pool.stats().worker_deaths >= 1; }, 30s))
          << "the fault at " << e.point << " did not fire or the death went unnoticed (marker "
          << (file_exists(marker) ? "exists" : "missing") << ", worker_deaths "
          << pool.stats().worker_deaths << ")";

      EXPECT_TRUE(canary_done(pool)) << "the pool stopped serving after the fault at " << e.point;
      const procpool::pool_stats s = pool.stats();
      EXPECT_GE(s.worker_deaths, 1U);
      EXPECT_EQ(s.crashed, e.crashed);
      pool.close();
      pool.join();
      EXPECT_EQ(pool.stats().workers_alive, 0U);
    }

    const auto counts = count_states(all);
    const auto n = [&](task_state s) { return counts.count(s) != 0 ? counts.at(s) : 0U; };
    EXPECT_EQ(n(task_state::crashed), e.crashed) << describe(counts);
    EXPECT_EQ(n(task_state::done), tag_count - e.crashed) << describe(counts);
    std::size_t retried = 0;
    for (const auto& [tag, r] : all) {
      const int i = std::stoi(tag.substr(1));
      if (r.state == task_state::done) {
        EXPECT_EQ(r.value, i * i) << "torn or misattributed result: " << describe(r);
        if (r.attempts > 1) {
          ++retried;
          EXPECT_EQ(r.attempts, 2) << describe(r);
          EXPECT_EQ(r.attempt_errors.size(), 1U) << describe(r);
          if (!r.attempt_errors.empty()) {
            EXPECT_TRUE(contains(r.attempt_errors[0], "crashed")) << r.attempt_errors[0];
          }
        } else {
          EXPECT_EQ(r.attempts, 1) << describe(r);
        }
      } else if (r.state == task_state::crashed) {
        EXPECT_EQ(r.signal, SIGKILL) << describe(r);
        EXPECT_FALSE(r.exit_code.has_value()) << describe(r);
        EXPECT_EQ(r.error_type, "procpool::worker_crashed") << describe(r);
        EXPECT_TRUE(contains(r.error_message, "SIGKILL")) << describe(r);
      }
    }
    EXPECT_EQ(retried, e.retried);
  }
};

TEST_P(FaultInjectionTest, ClaimBeforeHead_ClaimWithdrawnNoTagLost) {
  run_point({"claim_before_head", 3, 0, 0, 0});
}

TEST_P(FaultInjectionTest, ClaimAfterHead_ExactlyOneTagCrashed) {
  run_point({"claim_after_head", 3, 0, 1, 0});
}

TEST_P(FaultInjectionTest, ClaimAfterHead_WithRetry_EveryTagDone) {
  run_point({"claim_after_head", 3, 1, 0, 1});
}

TEST_P(FaultInjectionTest, IdleHoldingLock_EveryTagDone) {
  run_point({"idle_holding_lock", 3, 0, 0, 0});
}

TEST_P(FaultInjectionTest, IdleHoldingLock_TwoWorkers_EveryTagDone) {
  run_point({"idle_holding_lock", 2, 0, 0, 0});
}

TEST_P(FaultInjectionTest, PublishBeforeCommit_OneCrashedNeverTornDone) {
  run_point({"publish_before_commit", 3, 0, 1, 0});
}

TEST_P(FaultInjectionTest, PublishBeforeCommit_WithRetry_EveryTagDone) {
  run_point({"publish_before_commit", 3, 1, 0, 1});
}

TEST_P(FaultInjectionTest, PublishAfterCommit_EveryTagDone) {
  run_point({"publish_after_commit", 3, 0, 0, 0});
}

TEST_P(FaultInjectionTest, PublishAfterCommit_WithRetry_NothingRunsTwice) {
  // The result was published before the worker died: the tag is done once,
  // not retried.
  run_point({"publish_after_commit", 2, 1, 0, 0});
}

PROCPOOL_FAULT_FOR_EVERY_START_METHOD(FaultInjectionTest);

}  // namespace
