// Hygiene (issue 3, "Hygiene"; I3, I6): workers inherit only the descriptors
// they need; no descriptor growth in the supervisor across 1000 worker
// restarts; API misuse (double close, terminate after close, terminate twice,
// join twice, destructor without close, use after move) is idempotent and safe.
#include "fault_tasks.hpp"
#include "fault_util.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

namespace {

using namespace procpool_fault;
using procpool::errc;

class HygieneTest : public StartMethodTest {};

/// Runs tags [from, to) of `noop` and waits for them; every one must be done.
void run_batch(procpool::pool& pool, int from, int to) {
  std::vector<task_handle> hs;
  hs.reserve(static_cast<std::size_t>(to - from));
  for (int i = from; i < to; ++i) hs.push_back(pool.submit("t" + std::to_string(i), "noop"));
  for (const auto& h : hs) {
    ASSERT_TRUE(ends_in(h, task_state::done, 60s));
    (void)pool.take(h.tag());  // keep the result map small
  }
}

TEST_P(HygieneTest, ThousandWorkerRestarts_DescriptorCountStable) {
  constexpr int workers = 2;
  const std::size_t before = open_fds().size();
  {
    procpool::options o = opts(workers);
    o.max_tasks_per_worker = 1;
    procpool::pool pool(o);
    run_batch(pool, 0, 100);
    ASSERT_FALSE(HasFailure());
    const std::size_t after_100 = open_fds().size();
    run_batch(pool, 100, 1000);
    ASSERT_FALSE(HasFailure());
    const std::size_t after_1000 = open_fds().size();
    // Live workers each hold one pidfd: at most `workers` may differ.
    EXPECT_LE(after_1000, after_100 + workers)
        << "descriptors grew with worker restarts: " << after_100 << " after 100 restarts, "
        << after_1000 << " after 1000";
    pool.close();
    pool.join();
    const procpool::pool_stats s = pool.stats();
    EXPECT_GE(s.workers_started, 1000U);
    EXPECT_EQ(s.worker_deaths, 0U);
  }
  EXPECT_EQ(open_fds().size(), before) << "descriptors left after the pool was destroyed";
}

TEST_P(HygieneTest, Worker_InheritsOnlyStdioAndWakeDescriptor) {
  // Descriptors the test opens without O_CLOEXEC must not reach a worker. They
  // are recognised by what they point to (descriptor numbers mean nothing
  // across processes): a file of our own and a pipe with its own inode.
  scratch_dir dir;
  const std::string own_file = dir.file("test-only");
  const procpool_test::unique_fd extra{::open(own_file.c_str(), O_CREAT | O_RDWR, 0600)};
  ASSERT_TRUE(extra.valid());
  int p[2] = {-1, -1};
  ASSERT_EQ(::pipe(p), 0);
  const procpool_test::unique_fd pipe_r{p[0]};
  const procpool_test::unique_fd pipe_w{p[1]};
  const auto ours = open_fds();
  const std::set<std::string> test_only{ours.at(extra.get()), ours.at(pipe_r.get())};

  procpool::pool pool(opts(1));
  const task_handle h = pool.submit("fds", "fault_list_fds");
  ASSERT_TRUE(ends_in(h, task_state::done));
  const nlohmann::json fds = h.result().value;
  std::string listing;
  std::size_t beyond_stdio = 0;
  for (const auto& [fd, target] : fds.items()) {
    listing += " " + fd + "->" + target.get<std::string>();
    if (std::stoi(fd) > 2) ++beyond_stdio;
    EXPECT_EQ(test_only.count(target.get<std::string>()), 0U)
        << "the test's descriptor (" << target.get<std::string>() << ") leaked into the worker as "
        << fd;
  }
  EXPECT_EQ(beyond_stdio, 1U) << "a worker keeps 0-2 and one wake descriptor; it has:" << listing;
  pool.close();
  pool.join();
}

PROCPOOL_FAULT_FOR_EVERY_START_METHOD(HygieneTest);

// ---------------------------------------------------------------------------
// API misuse.

class PoolMisuseTest : public FaultTest {};

static_assert(!std::is_copy_constructible_v<procpool::pool> &&
                  !std::is_move_constructible_v<procpool::pool> &&
                  !std::is_move_assignable_v<procpool::pool>,
              "a pool can be neither copied nor moved: no use after move");

TEST_F(PoolMisuseTest, DoubleClose_Idempotent) {
  procpool::pool pool(process_opts(2));
  const task_handle h = pool.submit("a", "square", 3);
  pool.close();
  pool.close();
  pool.join();
  pool.close();
  EXPECT_TRUE(ends_done(h, 9, 1s));
  procpool_test::expect_errc([&] { (void)pool.submit("b", "square", 1); }, errc::closed);
}

TEST_F(PoolMisuseTest, TerminateAfterClose_CancelsQueuedAndReturns) {
  procpool::pool pool(process_opts(1));
  const task_handle slow = pool.submit("slow", "sleep_ms", 60000);
  const task_handle queued = pool.submit("queued", "square", 2);
  pool.close();
  pool.terminate(scaled(200ms));
  EXPECT_TRUE(ends_in(slow, task_state::cancelled, 1s));
  EXPECT_TRUE(ends_in(queued, task_state::cancelled, 1s));
  pool.join();
}

TEST_F(PoolMisuseTest, TerminateTwice_Idempotent) {
  procpool::pool pool(process_opts(2));
  const task_handle h = pool.submit("slow", "sleep_ms", 60000);
  ASSERT_TRUE(wait_until([&] { return h.state() == task_state::running; }, 10s));
  pool.terminate(scaled(200ms));
  const auto t0 = std::chrono::steady_clock::now();
  pool.terminate(scaled(200ms));
  pool.terminate();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, scaled(1s)) << "a second terminate() waited";
  EXPECT_TRUE(ends_in(h, task_state::cancelled, 1s));
  pool.join();
  pool.join();
}

TEST_F(PoolMisuseTest, TerminateFromTwoThreads_BothReturn) {
  procpool::pool pool(process_opts(2));
  const task_handle h = pool.submit("slow", "sleep_ms", 60000);
  ASSERT_TRUE(wait_until([&] { return h.state() == task_state::running; }, 10s));
  std::thread other([&] { pool.terminate(scaled(300ms)); });
  pool.terminate(scaled(300ms));
  other.join();
  EXPECT_TRUE(h.ready());
  EXPECT_EQ(pool.stats().workers_alive, 0U);
}

TEST_F(PoolMisuseTest, JoinTwice_Idempotent) {
  procpool::pool pool(process_opts(2));
  const task_handle h = pool.submit("a", "square", 4);
  pool.close();
  pool.join();
  pool.join();
  EXPECT_TRUE(ends_done(h, 16, 1s));
  pool.terminate();  // after join: nothing left to stop
  pool.join();
}

TEST_F(PoolMisuseTest, DestructorWithoutClose_TerminatesCleanly) {
  task_handle running;
  task_handle queued;
  {
    procpool::options o = process_opts(1);
    o.terminate_grace = scaled(200ms);
    procpool::pool pool(o);
    running = pool.submit("slow", "sleep_ms", 60000);
    queued = pool.submit("queued", "square", 2);
    ASSERT_TRUE(wait_until([&] { return running.state() == task_state::running; }, 10s));
  }
  EXPECT_TRUE(ends_in(running, task_state::cancelled, 1s));
  EXPECT_TRUE(ends_in(queued, task_state::cancelled, 1s));
}

TEST_F(PoolMisuseTest, DestructorAfterCloseWithoutJoin_DrainsOrStops) {
  task_handle h;
  {
    procpool::pool pool(process_opts(1));
    h = pool.submit("a", "square", 5);
    pool.close();
  }
  ASSERT_TRUE(h.ready());
  EXPECT_TRUE(h.state() == task_state::done || h.state() == task_state::cancelled)
      << describe(h.result());
}

TEST_F(PoolMisuseTest, MovedFromHandle_EmptyAndRefusesUse) {
  procpool::pool pool(process_opts(1));
  task_handle h = pool.submit("a", "square", 6);
  const task_handle moved = std::move(h);
  EXPECT_TRUE(ends_done(moved, 36));
  // NOLINTNEXTLINE(bugprone-use-after-move): the point of the test
  EXPECT_FALSE(h.valid());
  procpool_test::expect_errc([&] { (void)h.state(); }, errc::invalid_argument);
  procpool_test::expect_errc([&] { (void)h.get(); }, errc::invalid_argument);
  pool.close();
  pool.join();
}

}  // namespace
