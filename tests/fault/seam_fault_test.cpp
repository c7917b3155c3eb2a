// Faults around the front/backend seam, in process mode with every start
// method: an exception inside the pool's own threads, and a worker that dies
// after being woken for work but before claiming it.
#include "fault_tasks.hpp"
#include "fault_util.hpp"

#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

namespace {

using namespace procpool_fault;
using procpool_test::expect_errc;

/// Collects the pool's diagnostics.
struct diagnostics {
  std::mutex m;
  std::vector<std::string> lines;
  std::function<void(std::string_view)> hook() {
    return [this](std::string_view s) {
      const std::lock_guard<std::mutex> lock(m);
      lines.emplace_back(s);
    };
  }
  bool contains(const std::string& text) {
    const std::lock_guard<std::mutex> lock(m);
    for (const auto& l : lines) {
      if (l.find(text) != std::string::npos) return true;
    }
    return false;
  }
  std::string all() {
    const std::lock_guard<std::mutex> lock(m);
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
  }
};

class SeamFaultTest : public StartMethodTest {};

// An exception in the monitor thread used to reach std::terminate. Now the
// pool fails with the reason and every accepted tag still ends, once.
TEST_P(SeamFaultTest, MonitorThreadThrows_PoolFailsAndEveryTagEnds) {
#ifndef PROCPOOL_FAULT_INJECTION
  GTEST_SKIP() << "built without PROCPOOL_FAULT_INJECTION";
#endif
  scratch_dir dir;
  diagnostics diag;
  const fault_injection_env env("monitor_loop", dir.file("fired"));
  procpool::options o = opts(2);
  o.diagnostic = diag.hook();
  procpool::pool pool(o);
  std::vector<procpool::task_handle> accepted;
  for (int i = 0; i < 20; ++i) {
    try {
      accepted.push_back(pool.submit("t" + std::to_string(i), "square", i));
    } catch (const procpool::error& e) {
      EXPECT_EQ(e.code_value(), procpool::errc::spawn_failed) << e.what();
    }
  }
  for (const auto& h : accepted) {
    ASSERT_TRUE(h.wait_for(scaled(10s))) << h.tag() << " never ended";
    const procpool::result r = h.result();
    EXPECT_TRUE(r.state == procpool::task_state::cancelled || r.state == procpool::task_state::done)
        << h.tag() << ": " << to_string(r.state);
  }
  EXPECT_TRUE(file_exists(dir.file("fired")));
  EXPECT_TRUE(diag.contains("internal fault in the pool's monitor thread")) << diag.all();
  expect_errc([&] { (void)pool.submit("late", "square", 1); }, procpool::errc::spawn_failed);
  pool.close();
  pool.join();
}

// A fault of the callback thread itself (not of a callback) used to end the
// program; now the tag still becomes ready and the fault is reported.
TEST_P(SeamFaultTest, CallbackThreadThrows_TagStillReady) {
#ifndef PROCPOOL_FAULT_INJECTION
  GTEST_SKIP() << "built without PROCPOOL_FAULT_INJECTION";
#endif
  scratch_dir dir;
  diagnostics diag;
  const fault_injection_env env("callback_loop", dir.file("fired"));
  procpool::options o = opts(1);
  o.diagnostic = diag.hook();
  procpool::pool pool(o);
  auto h = pool.submit("a", "square", 3, [](const procpool::result&) {});
  ASSERT_TRUE(h.wait_for(scaled(10s)));
  EXPECT_EQ(h.result().value, 9);
  EXPECT_TRUE(diag.contains("callback thread fault"));
  auto again = pool.submit("b", "square", 4, [](const procpool::result&) {});
  EXPECT_EQ(again.get(), 16) << "the callback thread goes on";
  pool.close();
  pool.join();
}

// A push wakes one idle worker. If that worker died before claiming, the task
// stayed queued beside another idle worker until some unrelated submit.
TEST_P(SeamFaultTest, WokenWorkerDiesBeforeClaim_AnotherIdleWorkerRunsTheTask) {
#ifndef PROCPOOL_FAULT_INJECTION
  GTEST_SKIP() << "built without PROCPOOL_FAULT_INJECTION";
#endif
  scratch_dir dir;
  const std::string marker = dir.file("fired");
  const fault_injection_env env("woken_before_claim", marker);
  procpool::pool pool(opts(2));
  // Two workers busy at once (each waits for the other), so neither has slept yet.
  const std::string meet = dir.file("meet");
  std::filesystem::create_directories(meet);
  auto a = pool.submit("a", "fault_meet", nlohmann::json::array({meet, 2}));
  auto b = pool.submit("b", "fault_meet", nlohmann::json::array({meet, 2}));
  EXPECT_EQ(a.get(), 2);
  EXPECT_EQ(b.get(), 2);
  // A worker marked idle may not be asleep yet (it then takes the task
  // without being woken): repeat until a woken worker has died at the point.
  // Each task must still run, whoever takes it.
  for (int i = 0; i < 100 && !file_exists(marker); ++i) {
    ASSERT_TRUE(wait_until([&] { return pool.stats().workers_idle == 2; }, 10s));
    auto c = pool.submit("c" + std::to_string(i), "square", 5);
    ASSERT_TRUE(c.wait_for(scaled(10s))) << "the task stayed queued beside an idle worker";
    EXPECT_EQ(c.result().value, 25);
  }
  EXPECT_TRUE(file_exists(marker)) << "no woken worker reached the fault point";
  pool.close();
  pool.join();
}

PROCPOOL_FAULT_FOR_EVERY_START_METHOD(SeamFaultTest);

}  // namespace
