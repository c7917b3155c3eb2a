// Resource limits per worker (issue 3, "Resource limits per worker"): exceeding
// the address-space limit makes the task failed (std::bad_alloc) or crashed,
// never a hang, and the pool keeps serving; max_tasks_per_worker recycling
// keeps working under load. (The CPU limit is in worker_death_test.cpp.)
#include "fault_tasks.hpp"
#include "fault_util.hpp"

#include <set>
#include <string>
#include <thread>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define PROCPOOL_FAULT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PROCPOOL_FAULT_ASAN 1
#endif
#endif

namespace {

using namespace procpool_fault;

class ResourceLimitTest : public StartMethodTest {};

TEST_P(ResourceLimitTest, MemoryLimit_OneGiBAllocation_FailsOrCrashesNeverHangs) {
#ifdef PROCPOOL_FAULT_ASAN
  GTEST_SKIP() << "AddressSanitizer reserves terabytes of address space: RLIMIT_AS cannot work";
#endif
  procpool::options o = opts(2);
  o.worker_memory_limit = std::size_t{256} << 20U;
  procpool::pool pool(o);
  const task_handle big = pool.submit("big", "fault_alloc_mib", 1024);
  const task_handle small = pool.submit("small", "fault_alloc_mib", 16);

  ASSERT_TRUE(big.wait_for(scaled(30s))) << "the over-limit allocation hangs";
  const procpool::result r = big.result();
  if (r.state == task_state::failed) {
    EXPECT_TRUE(contains(r.error_type, "bad_alloc")) << describe(r);
  } else {
    EXPECT_EQ(r.state, task_state::crashed) << describe(r);
  }
  EXPECT_TRUE(ends_done(small, 16)) << "a task within the limit must still run";
  EXPECT_TRUE(canary_done(pool));
  pool.close();
  pool.join();
}

TEST_P(ResourceLimitTest, MaxTasksPerWorker1_300TasksUnderLoad_AllDone) {
  constexpr int n = 300;
  procpool::options o = opts(3);
  o.max_tasks_per_worker = 1;
  procpool::pool pool(o);
  // Two submitters at once, tasks of a few hundred microseconds each.
  std::vector<task_handle> a;
  std::vector<task_handle> b;
  std::thread other([&] {
    for (int i = 1; i < n; i += 2) b.push_back(pool.submit("t" + std::to_string(i), "fault_spin_us", 300));
  });
  for (int i = 0; i < n; i += 2) a.push_back(pool.submit("t" + std::to_string(i), "fault_spin_us", 300));
  other.join();

  std::set<std::string> tags;
  for (int i = 0; i < n; ++i) tags.insert("t" + std::to_string(i));
  const auto all = pool.results();
  ASSERT_TRUE(every_tag_once(all, tags));
  const auto counts = count_states(all);
  EXPECT_EQ(counts.count(task_state::done) != 0 ? counts.at(task_state::done) : 0U,
            static_cast<std::size_t>(n))
      << describe(counts);
  for (const auto& [tag, r] : all) {
    if (r.state != task_state::done) ADD_FAILURE() << describe(r);
  }
  pool.close();
  pool.join();
  const procpool::pool_stats s = pool.stats();
  EXPECT_GE(s.workers_started, static_cast<std::size_t>(n)) << "a worker ran more than one task";
  EXPECT_EQ(s.worker_deaths, 0U) << "recycling is a clean exit, not a death";
  EXPECT_EQ(s.start_failures, 0U);
  EXPECT_EQ(s.worker_exits, s.workers_started);
}

PROCPOOL_FAULT_FOR_EVERY_START_METHOD(ResourceLimitTest);

}  // namespace
