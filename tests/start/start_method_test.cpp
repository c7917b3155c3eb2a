// Start methods: every method runs tasks, attributes crashes and cleans up the
// same way; the fork server keeps workers out of a threaded host's way; a
// worker program that cannot start is a clear, bounded error.
#include "test_util.hpp"

#include <procpool/procpool.hpp>

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using procpool::start_method;
using procpool::task_state;
using namespace std::chrono_literals;

PROCPOOL_TASK(start_parent_pid, []() { return static_cast<int>(::getppid()); });
PROCPOOL_TASK(start_own_pid, []() { return static_cast<int>(::getpid()); });
PROCPOOL_TASK(start_kill_self, []() { ::raise(SIGKILL); });
PROCPOOL_TASK(start_write_stdio, [](int n) {
  // stdio and iostreams in a worker whose fork raced with host threads using them.
  std::ostringstream s;
  for (int i = 0; i < n; ++i) s << i;
  std::FILE* f = std::fopen("/dev/null", "w");
  if (f != nullptr) {
    std::fputs(s.str().c_str(), f);
    std::fclose(f);
  }
  return static_cast<int>(s.str().size());
});

std::string name_of(start_method m) {
  switch (m) {
    case start_method::fork_server: return "fork_server";
    case start_method::fork: return "fork";
    case start_method::spawn: return "spawn";
  }
  return "unknown";
}

/// Children of this process that are still alive or unreaped.
std::vector<int> children_of_this_process() {
  std::vector<int> out;
  const std::string me = std::to_string(::getpid());
  std::ifstream f("/proc/self/task/" + me + "/children");
  int pid = 0;
  while (f >> pid) out.push_back(pid);
  return out;
}

class StartMethodTest : public ::testing::TestWithParam<start_method> {
 protected:
  [[nodiscard]] procpool::options opts(int workers) const {
    return procpool::options{}.with_mode(procpool::mode::process).with_workers(workers).with_start(GetParam());
  }
};

TEST_P(StartMethodTest, RunsTasks_ApplyMapAndResults) {
  procpool::pool pool(opts(2));
  EXPECT_EQ(pool.apply("a", "square", 12).get<int>(), 144);
  const auto values = pool.map("square", std::vector<int>{1, 2, 3, 4});
  EXPECT_EQ(values, (std::vector<nlohmann::json>{1, 4, 9, 16}));
  pool.close();
  pool.join();
  EXPECT_EQ(pool.stats().done, 5U);
}

TEST_P(StartMethodTest, WorkerParent_IsTheServerOrThePool) {
  procpool::pool pool(opts(1));
  const int parent = pool.apply("p", "start_parent_pid").get<int>();
  if (GetParam() == start_method::fork_server) {
    EXPECT_NE(parent, ::getpid()) << "fork_server workers are children of the server";
  } else {
    EXPECT_EQ(parent, ::getpid());
  }
  pool.close();
  pool.join();
}

TEST_P(StartMethodTest, WorkerKilled_TaskCrashed_PoolKeepsServing) {
  procpool::pool pool(opts(2));
  const procpool::result r = pool.submit("k", "start_kill_self").result();
  EXPECT_EQ(r.state, task_state::crashed);
  ASSERT_TRUE(r.signal.has_value());
  EXPECT_EQ(*r.signal, SIGKILL);
  EXPECT_EQ(pool.apply("canary", "square", 5).get<int>(), 25);
  pool.close();
  pool.join();
  EXPECT_EQ(pool.stats().crashed, 1U);
}

TEST_P(StartMethodTest, Recycling_EveryWorkerReaped_NoChildLeft) {
  {
    procpool::pool pool(opts(2).with_max_tasks_per_worker(1));
    std::vector<procpool::task_handle> hs;
    for (int i = 0; i < 40; ++i) hs.push_back(pool.submit("r" + std::to_string(i), "start_own_pid"));
    std::set<int> pids;
    for (const auto& h : hs) pids.insert(h.get().get<int>());
    EXPECT_EQ(pids.size(), 40U) << "one task per worker";
    pool.close();
    pool.join();
    EXPECT_EQ(pool.stats().workers_alive, 0U);
  }
  // The fork server goes with the pool; nothing is left to reap.
  EXPECT_TRUE(procpool_test::wait_until([] { return children_of_this_process().empty(); }, 10s));
}

INSTANTIATE_TEST_SUITE_P(AllMethods, StartMethodTest,
                         ::testing::Values(start_method::fork_server, start_method::fork,
                                           start_method::spawn),
                         [](const ::testing::TestParamInfo<start_method>& i) { return name_of(i.param); });

// Creates the pool while 8 host threads hammer malloc, stdio/iostreams and a
// mutex, then restarts workers 1000 times (one task each): none hangs.
TEST(ForkServerTest, ThreadedHost_ThousandWorkerRestarts_NoneHangs) {
  std::atomic<bool> stop{false};
  std::mutex host_mutex;
  std::vector<std::thread> hammers;
  for (int t = 0; t < 8; ++t) {
    hammers.emplace_back([&, t] {
      std::FILE* f = std::fopen("/dev/null", "w");
      std::ofstream os("/dev/null");
      std::size_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        std::vector<std::string> v(16, std::string(64 + static_cast<std::size_t>(t), 'x'));
        n += v.size();
        if (f != nullptr) std::fprintf(f, "%zu\n", n);
        os << n << '\n';
        std::ostringstream s;
        s << n;
        const std::lock_guard<std::mutex> lock(host_mutex);
        n += s.str().size();
      }
      if (f != nullptr) std::fclose(f);
    });
  }
  {
    procpool::pool pool(procpool::options{}.with_workers(2).with_max_tasks_per_worker(1));
    std::vector<procpool::task_handle> hs;
    hs.reserve(1000);
    for (int i = 0; i < 1000; ++i) hs.push_back(pool.submit("w" + std::to_string(i), "start_write_stdio", 50));
    for (const auto& h : hs) {
      ASSERT_TRUE(h.wait_for(std::chrono::duration_cast<std::chrono::milliseconds>(procpool_test::scaled(60s))))
          << "task " << h.tag() << " never finished";
      EXPECT_EQ(h.state(), task_state::done) << h.tag();
    }
    pool.close();
    pool.join();
    EXPECT_GE(pool.stats().workers_started, 1000U);
  }
  stop = true;
  for (auto& t : hammers) t.join();
}

TEST(SpawnTest, ProgramWithoutHook_ClearStartFailure_PoolFails) {
  // /bin/true exits without attaching: every start fails, the pool gives up
  // after max_start_failures and says why.
  procpool::pool pool(procpool::options{}
                          .with_workers(1)
                          .with_start(start_method::spawn)
                          .with_worker_executable("/bin/true"));
  const procpool::result r = pool.submit("t", "square", 2).result();
  EXPECT_EQ(r.state, task_state::cancelled);
  EXPECT_NE(r.error_message.find("run_worker_if_requested"), std::string::npos) << r.error_message;
  try {
    pool.submit("u", "square", 3);
    ADD_FAILURE() << "submit to a failed pool was accepted";
  } catch (const procpool::error& e) {
    EXPECT_EQ(e.code_value(), procpool::errc::spawn_failed);
  }
  EXPECT_LE(pool.stats().workers_started, 7U) << "no fork storm";
}

TEST(SpawnTest, ProgramThatNeverAttaches_StartTimeout) {
  const procpool_test::temp_dir dir;
  const std::string script = dir.path() + "/never_attaches.sh";
  {
    std::ofstream s(script);
    s << "#!/bin/sh\nexec sleep 1000\n";
  }
  ASSERT_EQ(::chmod(script.c_str(), 0700), 0);
  procpool::options o = procpool::options{}
                            .with_workers(1)
                            .with_start(start_method::spawn)
                            .with_worker_executable(script);
  o.start_timeout = 200ms;
  o.max_start_failures = 1;
  procpool::pool pool(o);
  const procpool::result r = pool.submit("t", "square", 2).result();
  EXPECT_EQ(r.state, task_state::cancelled);
  EXPECT_NE(r.error_message.find("did not attach"), std::string::npos) << r.error_message;
  ::unlink(script.c_str());
}

TEST(SpawnTest, MissingExecutable_RefusedAtConstruction) {
  try {
    procpool::pool pool(procpool::options{}
                            .with_start(start_method::spawn)
                            .with_worker_executable("/nonexistent/procpool-worker"));
    ADD_FAILURE() << "a pool with a missing worker program was created";
  } catch (const procpool::error& e) {
    EXPECT_EQ(e.code_value(), procpool::errc::spawn_failed);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/procpool-worker"), std::string::npos);
  }
}

}  // namespace
