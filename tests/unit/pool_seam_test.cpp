// Regression tests of the front/backend split: each case pins a defect the
// single-class supervisor had (time limits, waking, the result store,
// callbacks, internal faults), run against both backends like the main typed
// suite: PoolSeamTypedTest/0 is thread mode, PoolSeamTypedTest/1 process mode.
#include "test_tasks.hpp"
#include "test_util.hpp"

#include <procpool/procpool.hpp>

#include <nlohmann/json.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace procpool_test {
struct seam_thread {
  static constexpr procpool::mode value = procpool::mode::thread;
};
struct seam_process {
  static constexpr procpool::mode value = procpool::mode::process;
};
}  // namespace procpool_test

namespace {

using json = nlohmann::json;
using procpool::errc;
using procpool::task_state;
using procpool_test::expect_errc;
using procpool_test::scaled;
using procpool_test::wait_until;
using namespace std::chrono_literals;

/// Files in `dir` (a rendezvous of workers that cannot share memory).
std::size_t files_in(const std::string& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

/// Marks this worker present in `dir`, then waits (bounded) until `n` are.
/// Returns how many it saw: the evidence that `n` ran at the same time.
std::size_t meet(const std::string& dir, std::size_t n) {
  std::ofstream(dir + "/" + std::to_string(::getpid()) + "-" +
                std::to_string(std::hash<std::thread::id>{}(std::this_thread::get_id())));
  const auto until = std::chrono::steady_clock::now() + procpool_test::scaled(5s);
  while (files_in(dir) < n && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(2ms);
  return files_in(dir);
}

thread_local std::size_t seen_at_start = 0;  // per worker (thread or process)

}  // namespace

PROCPOOL_TASK(seam_meet_init, [](const std::string& dir, int n) {
  seen_at_start = meet(dir, static_cast<std::size_t>(n));
});
PROCPOOL_TASK(seam_seen_at_start, []() { return seen_at_start; });
PROCPOOL_TASK(seam_meet, [](const std::string& dir, int n) { return meet(dir, static_cast<std::size_t>(n)); });
/// Sleeps `ms`; the first attempt then fails: each attempt takes `ms`.
PROCPOOL_TASK(seam_slow_then_fail_once, [](procpool::task_context& ctx, int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  if (ctx.attempt() == 1) throw std::runtime_error("first attempt fails");
  return ctx.attempt();
});
/// Fails with a structured outcome.
PROCPOOL_TASK(seam_fail_with_detail, [](int code) -> int {
  throw procpool::task_failure(procpool::errc::task_failed, "exited with code " + std::to_string(code),
                               json{{"exit_code", code}});
});
PROCPOOL_TASK(seam_throw_procpool_error, []() -> int { throw procpool::error(procpool::errc::full, "test: full"); });
/// Naps `ms` milliseconds, or less if asked to stop.
PROCPOOL_TASK(seam_nap, [](procpool::task_context& ctx, int ms) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (!ctx.stop_requested() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(2ms);
  return ms;
});
/// Waits until the file `path` exists (bounded), then returns.
PROCPOOL_TASK(seam_wait_for_file, [](const std::string& path) {
  const auto until = std::chrono::steady_clock::now() + procpool_test::scaled(10s);
  while (!std::filesystem::exists(path) && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(2ms);
  }
  return std::filesystem::exists(path);
});

namespace {

template <class Mode>
class PoolSeamTypedTest : public ::testing::Test {
 protected:
  static procpool::options opts(int workers) {
    procpool::options o;
    o.mode = Mode::value;
    o.workers = workers;
    o.kill_grace = 200ms;
    o.terminate_grace = 500ms;
    return o;
  }
  std::string scratch() {
    const std::string d = testing::TempDir() + "pp-seam-" + std::to_string(::getpid()) + "-" +
                          std::to_string(counter_++);
    std::filesystem::remove_all(d);
    std::filesystem::create_directories(d);
    dirs_.push_back(d);
    return d;
  }
  ~PoolSeamTypedTest() override {
    for (const auto& d : dirs_) std::filesystem::remove_all(d);
  }

 private:
  int counter_ = 0;
  std::vector<std::string> dirs_;
};

using seam_modes = ::testing::Types<procpool_test::seam_thread, procpool_test::seam_process>;
TYPED_TEST_SUITE(PoolSeamTypedTest, seam_modes);

// ---- time limits and waking -------------------------------------------------------

// A limit was armed only when something else woke the monitor: a task taken
// by an already-idle worker could run for ever.
TYPED_TEST(PoolSeamTypedTest, TimeLimit_TakenByIdleWorker_EndsTimedOut) {
  procpool::pool pool(TestFixture::opts(1).with_task_timeout(300ms));
  EXPECT_EQ(pool.apply("warm", "square", 3), 9);  // the worker is idle now
  auto h = pool.submit("stuck", "hang_until_stopped");
  ASSERT_TRUE(h.wait_for(scaled(5s))) << "a limit of 300 ms was never enforced";
  EXPECT_EQ(h.result().state, task_state::timed_out);
  pool.terminate();
}

// A retry reused the task id and inherited the previous attempt's deadline.
TYPED_TEST(PoolSeamTypedTest, TimeLimit_EachRetryHasItsOwnLimit) {
  procpool::pool pool(TestFixture::opts(1).with_task_timeout(scaled(700ms)).with_retries(1));
  const procpool::result r = pool.submit("t", "seam_slow_then_fail_once", static_cast<int>(scaled(400ms).count())).result();
  EXPECT_EQ(r.state, task_state::done) << r.error_type << ": " << r.error_message;
  EXPECT_EQ(r.value, 2);
  pool.close();
  pool.join();
}

// milliseconds::max() overflowed when added to now(): an "infinite" limit expired at once.
TYPED_TEST(PoolSeamTypedTest, Durations_MaxMeansNever) {
  const auto forever = std::chrono::milliseconds::max();
  procpool::pool pool(TestFixture::opts(1).with_task_timeout(forever).with_max_queue(1).with_kill_grace(forever));
  EXPECT_EQ(pool.apply("a", "square", 5), 25);
  // A full queue that frees later: submit_for(max) waits instead of refusing.
  const std::string dir = this->scratch();
  auto blocker = pool.submit("b", "seam_wait_for_file", dir + "/go");
  ASSERT_TRUE(wait_until([&] { return pool.stats().running == 1; }, 5s));
  auto queued = pool.submit("q", "square", 2);
  auto late = std::async(std::launch::async, [&] { return pool.submit_for(forever, "late", "square", 4); });
  EXPECT_EQ(late.wait_for(200ms), std::future_status::timeout) << "submit_for(max) gave up at once";
  std::ofstream(dir + "/go");
  EXPECT_EQ(late.get().get(), 16);
  pool.close();
  pool.join();
}

// With max_queue below the worker count, workers started one at a time, each
// after the previous one claimed: a slow initializer serialised ramp-up.
TYPED_TEST(PoolSeamTypedTest, RampUp_QueueShorterThanPool_WorkersStartTogether) {
  const std::string dir = this->scratch();
  procpool::pool pool(
      TestFixture::opts(3).with_max_queue(1).with_initializer("seam_meet_init", json::array({dir, 3})));
  std::vector<std::future<procpool::task_handle>> subs;
  for (int i = 0; i < 3; ++i) {
    subs.push_back(std::async(std::launch::async, [&pool, i] {
      return pool.submit("t" + std::to_string(i), "seam_seen_at_start");
    }));
  }
  for (auto& s : subs) EXPECT_EQ(s.get().get(), 3) << "a worker's initializer ran alone";
  pool.close();
  pool.join();
}

// ---- the result store -------------------------------------------------------------

TYPED_TEST(PoolSeamTypedTest, Retention_DropOnceDelivered_TagLeavesAndMayBeReused) {
  procpool::pool pool(TestFixture::opts(2).with_result_retention(procpool::retention::drop_once_delivered));
  EXPECT_EQ(pool.submit("a", "square", 3).get(), 9);
  expect_errc([&] { (void)pool.result("a"); }, errc::unknown_tag);
  std::promise<int> seen;
  (void)pool.submit("b", "square", 4, [&](const procpool::result& r) { seen.set_value(r.value.get<int>()); });
  EXPECT_EQ(seen.get_future().get(), 16);
  ASSERT_TRUE(wait_until([&] {
    try {
      (void)pool.submit("b", "square", 5);  // free again once its callback ran
      return true;
    } catch (const procpool::error&) {
      return false;
    }
  }, 5s));
  pool.close();
  pool.join();
}

// A held tag whose handle is gone keeps its outcome alone, compact (the
// result store's white-box test checks the record is freed); what result(),
// results() and take() return must not change with it.
TYPED_TEST(PoolSeamTypedTest, Retention_KeepUntilTaken_OutcomeSameOnceHandleGone) {
  procpool::pool pool(TestFixture::opts(2));
  const std::vector<std::pair<std::string, procpool::task_options>> cases = {
      {"done", {}}, {"failed", {}}, {"retried", procpool::task_options{std::nullopt, 1}}};
  std::map<std::string, procpool::result> seen;
  for (const auto& [tag, per_task] : cases) {
    procpool::task_handle h = tag == "done" ? pool.submit(tag, "repeat", 300)
                                            : pool.submit(tag, "throw_runtime", "boom " + tag, per_task);
    seen[tag] = h.result();
  }  // every handle gone
  const auto all = pool.results();
  ASSERT_EQ(all.size(), cases.size());
  for (const auto& [tag, per_task] : cases) {
    const procpool::result held = pool.result(tag);
    for (const procpool::result* r : {&held, &all.at(tag)}) {
      EXPECT_EQ(r->tag, tag);
      EXPECT_EQ(r->state, seen[tag].state);
      EXPECT_EQ(r->value, seen[tag].value);
      EXPECT_EQ(r->error_type, seen[tag].error_type);
      EXPECT_EQ(r->error_message, seen[tag].error_message);
      EXPECT_EQ(r->error_code, seen[tag].error_code);
      EXPECT_EQ(r->attempts, seen[tag].attempts);
      EXPECT_EQ(r->attempt_errors, seen[tag].attempt_errors);
      EXPECT_EQ(r->worker_pid, seen[tag].worker_pid);
      EXPECT_EQ(r->started_at, seen[tag].started_at);
      EXPECT_EQ(r->finished_at, seen[tag].finished_at);
    }
  }
  EXPECT_EQ(seen["retried"].attempt_errors.size(), 1u);
  EXPECT_EQ(pool.take("done").value, std::string(300, 'x'));
  expect_errc([&] { (void)pool.result("done"); }, errc::unknown_tag);
  EXPECT_EQ(pool.submit("done", "square", 3).get(), 9) << "a taken tag is free again";
  pool.close();
  pool.join();
}

TYPED_TEST(PoolSeamTypedTest, Retention_BoundReached_TrySubmitFullAndTakeMakesRoom) {
  procpool::pool pool(TestFixture::opts(1).with_max_retained_results(2));
  EXPECT_EQ(pool.submit("a", "square", 1).get(), 1);
  EXPECT_EQ(pool.submit("b", "square", 2).get(), 4);
  const std::string why = expect_errc([&] { (void)pool.try_submit("c", "square", 3); }, errc::full);
  EXPECT_NE(why.find("max_retained_results"), std::string::npos) << why;
  expect_errc([&] { (void)pool.submit_for(50ms, "c", "square", 3); }, errc::full);
  EXPECT_EQ(pool.take("a").value, 1);
  EXPECT_EQ(pool.try_submit("c", "square", 3).get(), 9);
  EXPECT_EQ(pool.results().size(), 2U) << "never a silent eviction";
  pool.close();
  pool.join();
}

long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string key;
  long v = 0;
  while (in >> key) {
    if (key == "VmRSS:") {
      in >> v;
      return v;
    }
  }
  return 0;
}

TYPED_TEST(PoolSeamTypedTest, Retention_DropOnceDelivered_FireAndForgetMemoryStaysFlat) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "sanitizers keep freed memory (quarantine, shadow): RSS says nothing here";
#endif
  procpool::pool pool(TestFixture::opts(2).with_result_retention(procpool::retention::drop_once_delivered));
  std::atomic<long> done{0};
  const auto cb = [&done](const procpool::result&) { done.fetch_add(1); };
  const auto batch = [&](int from, int n) {
    for (int i = from; i < from + n; ++i) (void)pool.submit("t" + std::to_string(i), "square", i % 100, cb);
    ASSERT_TRUE(wait_until([&] { return done.load() == from + n; }, 60s));
  };
  batch(0, 20'000);  // warm up allocators and rings
  const long before = rss_kib();
  batch(20'000, 100'000);
  const long grown = rss_kib() - before;
  EXPECT_LT(grown, 16 * 1024) << "RSS grew by " << grown << " KiB over 100k delivered tags";
  pool.close();
  pool.join();
}

// A refused submission was visible while submit_for waited for room: a
// concurrent submit of the same tag saw duplicate_tag.
TYPED_TEST(PoolSeamTypedTest, Submit_TagInvisibleUntilAccepted) {
  const std::string dir = this->scratch();
  procpool::pool pool(TestFixture::opts(1).with_max_queue(1));
  auto blocker = pool.submit("b", "seam_wait_for_file", dir + "/go");
  ASSERT_TRUE(wait_until([&] { return pool.stats().running == 1; }, 5s));
  auto queued = pool.submit("q", "square", 2);
  auto waiting = std::async(std::launch::async, [&] {
    expect_errc([&] { (void)pool.submit_for(scaled(400ms), "x", "square", 1); }, errc::full);
  });
  while (waiting.wait_for(1ms) != std::future_status::ready) {
    try {
      (void)pool.try_submit("x", "square", 1);
      ADD_FAILURE() << "accepted into a full queue";
    } catch (const procpool::error& e) {
      ASSERT_NE(e.code_value(), errc::duplicate_tag) << "tag 'x' existed before it was accepted: " << e.what();
    }
  }
  waiting.get();
  expect_errc([&] { (void)pool.result("x"); }, errc::unknown_tag);
  std::ofstream(dir + "/go");
  pool.close();
  pool.join();
}

// ---- callbacks --------------------------------------------------------------------

// A callback that waited for another tag with callbacks, for results(), or
// took its own tag deadlocked the callback thread (and then the destructor).
TYPED_TEST(PoolSeamTypedTest, Callback_WaitsOnOtherTagsAndTakesItsOwn_NoDeadlock) {
  const std::string dir = this->scratch();
  procpool::pool pool(TestFixture::opts(2));
  std::promise<json> got;
  const auto noop_cb = [](const procpool::result&) {};
  // "b" first (so it is accepted before "a" can finish); it ends only once
  // "a"'s callback lets it, so its own callback queues behind that one.
  (void)pool.submit("b", "seam_wait_for_file", dir + "/go", noop_cb);
  (void)pool.submit("a", "square", 3, [&](const procpool::result&) {
    std::ofstream(dir + "/go");
    json out;
    out["b"] = pool.result("b").value;
    out["all"] = pool.results().size();
    out["own"] = pool.take("a").value;
    got.set_value(out);
  });
  auto f = got.get_future();
  ASSERT_EQ(f.wait_for(scaled(10s)), std::future_status::ready) << "the callback thread deadlocked";
  const json out = f.get();
  EXPECT_EQ(out["b"], true);
  EXPECT_EQ(out["all"], 2);
  EXPECT_EQ(out["own"], 9);
  pool.close();
  pool.join();
}

// ---- observer and diagnostics -----------------------------------------------------------

struct counting_observer final : procpool::observer {
  std::mutex m;
  std::vector<std::string> events;
  void add(std::string e) {
    const std::lock_guard<std::mutex> lock(m);
    events.push_back(std::move(e));
  }
  void task_queued(std::string_view tag, std::string_view) noexcept override { add("queued " + std::string(tag)); }
  void task_started(std::string_view tag, int, int attempt) noexcept override {
    add("started " + std::string(tag) + " " + std::to_string(attempt));
  }
  void task_finished(std::string_view tag, task_state s) noexcept override {
    add("finished " + std::string(tag) + " " + std::string(to_string(s)));
  }
  void worker_started(int) noexcept override { add("worker_started"); }
  void worker_exited(int, std::optional<int>, std::optional<int>, std::string_view) noexcept override {
    add("worker_exited");
  }
  std::size_t count(const std::string& e) {
    const std::lock_guard<std::mutex> lock(m);
    return static_cast<std::size_t>(std::count(events.begin(), events.end(), e));
  }
};

TYPED_TEST(PoolSeamTypedTest, Observer_SeesEveryTaskAndWorker) {
  auto obs = std::make_shared<counting_observer>();
  {
    procpool::pool pool(TestFixture::opts(1).with_observer(obs).with_retries(1));
    EXPECT_EQ(pool.submit("a", "square", 3).get(), 9);
    EXPECT_EQ(pool.submit("r", "fail_before_attempt", 2).get(), 2);
    pool.close();
    pool.join();
  }
  EXPECT_EQ(obs->count("queued a"), 1U);
  EXPECT_EQ(obs->count("started a 1"), 1U);
  EXPECT_EQ(obs->count("finished a done"), 1U);
  EXPECT_EQ(obs->count("started r 1"), 1U);
  EXPECT_EQ(obs->count("started r 2"), 1U);
  EXPECT_EQ(obs->count("finished r done"), 1U);
  EXPECT_EQ(obs->count("worker_started"), 1U);
  EXPECT_EQ(obs->count("worker_exited"), 1U);
}

// ---- registration -------------------------------------------------------------------------

void register_late() { PROCPOOL_TASK(seam_registered_late, [](int x) { return x; }); }

// PROCPOOL_TASK inside a function, reached after a pool exists, registered
// only in the supervisor: submits were accepted and failed in the worker.
TYPED_TEST(PoolSeamTypedTest, Registry_TaskRegisteredAfterPoolCreation_Refused) {
  procpool::pool pool(TestFixture::opts(1));
  const std::string why = expect_errc([] { register_late(); }, errc::invalid_argument);
  EXPECT_NE(why.find("namespace scope"), std::string::npos) << why;
  expect_errc([&] { (void)pool.submit("x", "seam_registered_late", 1); }, errc::unknown_task);
  pool.close();
  pool.join();
}

}  // namespace

namespace {

double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// After terminate() the process-mode monitor polled with a zero timeout for as
// long as the pool object lived: about a core while idle.
TYPED_TEST(PoolSeamTypedTest, Terminate_IdlePoolAfterwardsUsesNoCpu) {
  procpool::pool pool(TestFixture::opts(1));
  EXPECT_EQ(pool.apply("a", "square", 2), 4);
  pool.terminate();
  const double before = cpu_seconds();
  std::this_thread::sleep_for(300ms);  // a measuring window, not ordering
  const double used = cpu_seconds() - before;
  EXPECT_LT(used, 0.1) << "the pool burned " << used << " s of CPU in 0.3 s while idle";
}

}  // namespace

namespace {

// map/starmap applied task_timeout to a whole chunk: 80 inputs of 50 ms under
// a 500 ms limit all ended timed_out.
TYPED_TEST(PoolSeamTypedTest, Map_TimeLimitIsPerInput) {
  procpool::pool pool(TestFixture::opts(2).with_task_timeout(scaled(500ms)));
  const std::vector<int> in(80, 50);
  const std::vector<json> out = pool.map("seam_nap", in, /*chunksize=*/20);
  ASSERT_EQ(out.size(), in.size());
  for (const json& v : out) EXPECT_EQ(v, 50);
  EXPECT_EQ(pool.stats().timed_out, 0U);
  pool.close();
  pool.join();
}

// The input that overruns its limit ends timed_out; the inputs of its chunk
// before it keep their values and those after it still run, uncharged.
TYPED_TEST(PoolSeamTypedTest, Map_InputPastItsLimit_OnlyThatInputTimedOut) {
  procpool::pool pool(TestFixture::opts(2).with_task_timeout(scaled(300ms)));
  std::vector<int> in(11, 10);
  in[5] = 60'000;
  try {
    (void)pool.map("seam_nap", in, /*chunksize=*/11);
    ADD_FAILURE() << "map did not report the input past its limit";
  } catch (const procpool::task_error& e) {
    EXPECT_EQ(e.tag(), "5");
    EXPECT_EQ(e.state(), task_state::timed_out);
  }
  const procpool::pool_stats s = pool.stats();
  EXPECT_EQ(s.done, 10U);
  EXPECT_EQ(s.timed_out, 1U);
  EXPECT_EQ(s.submitted, 11U);
  pool.terminate();
}

}  // namespace

namespace {

// Failure kinds travel as fields: a task's task_failure keeps its code and
// detail, a procpool::error its errc, procpool's own ends their errc.
TYPED_TEST(PoolSeamTypedTest, Failure_CodeAndDetailTravelAsFields) {
  procpool::pool pool(TestFixture::opts(1).with_task_timeout(scaled(300ms)));
  const procpool::result a = pool.submit("a", "seam_fail_with_detail", 3).result();
  EXPECT_EQ(a.state, task_state::failed);
  EXPECT_EQ(a.error_code, errc::task_failed);
  EXPECT_EQ(a.value, (json{{"exit_code", 3}}));
  const procpool::result b = pool.submit("b", "seam_throw_procpool_error").result();
  EXPECT_EQ(b.error_code, errc::full);
  const procpool::result c = pool.submit("c", "throw_runtime", "x").result();
  EXPECT_EQ(c.error_code, errc::task_failed);
  EXPECT_TRUE(c.value.is_null());
  const procpool::result d = pool.submit("d", "hang_until_stopped").result();
  EXPECT_EQ(d.state, task_state::timed_out);
  EXPECT_EQ(d.error_code, errc::task_timeout);
  EXPECT_FALSE(pool.submit("e", "square", 2).result().error_code.has_value());
  pool.terminate();
}

}  // namespace

namespace {

// The soft stop's front operation: what is queued ends cancelled at once,
// what runs finishes, and intake stays open.
TYPED_TEST(PoolSeamTypedTest, CancelQueued_DropsQueuedTagsRunningOnesFinish) {
  const std::string dir = this->scratch();
  procpool::pool pool(TestFixture::opts(1));
  auto running = pool.submit("r", "seam_wait_for_file", dir + "/go");
  ASSERT_TRUE(wait_until([&] { return pool.stats().running == 1; }, 5s));
  std::vector<procpool::task_handle> queued;
  for (int i = 0; i < 5; ++i) queued.push_back(pool.submit("q" + std::to_string(i), "square", i));
  EXPECT_EQ(pool.cancel_queued(), 5U);
  for (const auto& h : queued) {
    ASSERT_TRUE(h.wait_for(scaled(5s)));
    EXPECT_EQ(h.result().state, task_state::cancelled);
    EXPECT_EQ(h.result().error_code, errc::cancelled);
  }
  std::ofstream(dir + "/go");
  EXPECT_EQ(running.get(), true);
  EXPECT_EQ(pool.submit("after", "square", 3).get(), 9) << "intake stays open";
  EXPECT_EQ(pool.stats().cancelled, 5U);
  pool.close();
  pool.join();
}

}  // namespace
