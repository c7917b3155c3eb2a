// One behavioural suite for procpool::pool, run against both backends:
// gtest names them PoolTypedTest/0.* (thread mode) and PoolTypedTest/1.* (process
// mode); ctest shows PoolTypedTest.<Case><procpool_test::thread_mode> and
// <procpool_test::process_mode>. tests/CMakeLists.txt relies on that order
// (it labels PoolTypedTest/1.* notsan).
//
// Rules kept by every case:
//  - small worker counts; every pool ends with close()+join() or terminate()
//    (or, where that is the point, its destructor);
//  - events are ordered with FIFO gates and state polls under a deadline, never
//    with sleeps; every wait that could hang is bounded by scaled() (see
//    helpers/test_util.hpp);
//  - the fixture checks that nothing leaked: no child process, no new
//    descriptor, no /dev/shm name carrying our pid.
#include "test_tasks.hpp"
#include "test_util.hpp"

#include <nlohmann/json.hpp>

#include <dirent.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <csignal>
#include <deque>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

// The two backends. Named (not in the anonymous namespace) because ctest shows
// the type: PoolTypedTest.Apply_ReturnsValue<procpool_test::process_mode>.
namespace procpool_test {
struct thread_mode {
  static constexpr procpool::mode value = procpool::mode::thread;
};
struct process_mode {
  static constexpr procpool::mode value = procpool::mode::process;
};
}  // namespace procpool_test

namespace {

using json = nlohmann::json;
using procpool::errc;
using procpool::task_handle;
using procpool::task_state;
using procpool_test::expect_errc;
using procpool_test::scaled;
using procpool_test::open_fds;
using procpool_test::wait_until;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------
// Leak probes.

/// Every child of this process (alive or zombie), from /proc/self/task/*/children.
std::vector<std::string> child_pids() {
  std::vector<std::string> out;
  const std::string task_dir = "/proc/" + std::to_string(::getpid()) + "/task";
  DIR* d = ::opendir(task_dir.c_str());
  if (d == nullptr) return out;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(task_dir + "/" + e->d_name + "/children");
    std::string pid;
    while (in >> pid) out.push_back(pid);
  }
  ::closedir(d);
  return out;
}

/// Names under /dev/shm that carry this process's pid.
std::set<std::string> shm_names_with_our_pid() {
  std::set<std::string> out;
  const std::string pid = std::to_string(::getpid());
  DIR* d = ::opendir("/dev/shm");
  if (d == nullptr) return out;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.find(pid) != std::string::npos) out.insert(name);
  }
  ::closedir(d);
  return out;
}

// ---------------------------------------------------------------------------
// Assertions on handles.

/// The handle becomes ready within scaled(timeout) and ends done with `expected`.
::testing::AssertionResult ends_done(const task_handle& h, const json& expected,
                                     std::chrono::milliseconds timeout = 30s) {
  if (!h.valid()) return ::testing::AssertionFailure() << "empty handle";
  if (!h.wait_for(scaled(timeout))) {
    return ::testing::AssertionFailure()
           << "tag '" << h.tag() << "' not ready after " << scaled(timeout).count()
           << " ms; state " << procpool::to_string(h.state());
  }
  const procpool::result r = h.result();
  if (r.state != task_state::done) {
    return ::testing::AssertionFailure()
           << "tag '" << h.tag() << "' ended " << procpool::to_string(r.state) << " ("
           << r.error_type << ": " << r.error_message << ")";
  }
  if (r.value != expected) {
    return ::testing::AssertionFailure() << "tag '" << h.tag() << "' value " << r.value.dump()
                                         << ", expected " << expected.dump();
  }
  return ::testing::AssertionSuccess();
}

/// The handle becomes ready within scaled(timeout) and ends in `state`.
::testing::AssertionResult ends_in(const task_handle& h, task_state state,
                                   std::chrono::milliseconds timeout = 30s) {
  if (!h.valid()) return ::testing::AssertionFailure() << "empty handle";
  if (!h.wait_for(scaled(timeout))) {
    return ::testing::AssertionFailure()
           << "tag '" << h.tag() << "' not ready after " << scaled(timeout).count()
           << " ms; state " << procpool::to_string(h.state());
  }
  const procpool::result r = h.result();
  if (r.state != state) {
    return ::testing::AssertionFailure()
           << "tag '" << h.tag() << "' ended " << procpool::to_string(r.state) << " ("
           << r.error_type << ": " << r.error_message << "), expected "
           << procpool::to_string(state);
  }
  return ::testing::AssertionSuccess();
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// ---------------------------------------------------------------------------
// The fixture.

template <class Mode>
class PoolTypedTest : public ::testing::Test {
 protected:
  static constexpr procpool::mode mode = Mode::value;
  static constexpr bool is_process = mode == procpool::mode::process;

  struct fifo {
    std::string path;
    procpool_test::unique_fd fd;  // held read-write by the test, non-blocking
  };

  void SetUp() override {
    dir_.emplace();
    fds_before_ = open_fds();
  }

  void TearDown() override {
    fifos_.clear();
    dir_.reset();
    // Every pool of the test is gone by now (they live in the test body).
    std::vector<std::string> kids;
    const bool no_children = wait_until(
        [&] {
          kids = child_pids();
          return kids.empty();
        },
        5s);
    if (!no_children) {
      std::ostringstream list;
      for (const auto& k : kids) list << ' ' << k;
      ADD_FAILURE() << "child processes left after the pool was destroyed:" << list.str();
    }
    const auto fds_after = open_fds();
    for (const auto& [fd, target] : fds_after) {
      if (fds_before_.count(fd) == 0) {
        ADD_FAILURE() << "descriptor " << fd << " (" << target << ") leaked by the test's pools";
      }
    }
    for (const auto& name : shm_names_with_our_pid()) {
      ADD_FAILURE() << "/dev/shm/" << name << " left behind";
    }
  }

  [[nodiscard]] static procpool::options opts(int workers) {
    procpool::options o;
    o.mode = mode;
    o.workers = workers;
    return o;
  }

  /// A FIFO in this test's temporary directory, held open read-write by the test:
  /// `gate` tasks on it block until open_gate(f.fd) writes a byte;
  /// `report_pid_and_hang` writes its pid into it.
  fifo& new_fifo(const std::string& name) {
    fifo& f = fifos_.emplace_back();
    f.path = dir_->make_fifo(name);
    f.fd = procpool_test::open_fifo_rw(f.path, /*nonblocking=*/true);
    return f;
  }

 private:
  std::optional<procpool_test::temp_dir> dir_;
  std::deque<fifo> fifos_;
  std::map<int, std::string> fds_before_;
};

using backends = ::testing::Types<procpool_test::thread_mode, procpool_test::process_mode>;
TYPED_TEST_SUITE(PoolTypedTest, backends);

// ===========================================================================
// Seed scenarios
// ===========================================================================

TYPED_TEST(PoolTypedTest, ResultByTag_FetchedInAnyOrder) {
  procpool::pool pool(TestFixture::opts(2));
  const task_handle a = pool.submit("a", "square", 2);
  const task_handle b = pool.submit("b", "square", 3);
  const task_handle c = pool.submit("c", "square", 4);

  const procpool::result rc = pool.result("c");
  const procpool::result rb = pool.result("b");
  const procpool::result ra = pool.result("a");
  EXPECT_EQ(rc.tag, "c");
  EXPECT_EQ(rc.state, task_state::done);
  EXPECT_EQ(rc.value, 16);
  EXPECT_EQ(rb.tag, "b");
  EXPECT_EQ(rb.value, 9);
  EXPECT_EQ(ra.tag, "a");
  EXPECT_EQ(ra.value, 4);
  // result() leaves the entry in place.
  EXPECT_EQ(pool.result("a").value, 4);
  EXPECT_TRUE(a.ready());
  EXPECT_TRUE(b.ready());
  EXPECT_TRUE(c.ready());

  pool.close();
  pool.join();
}

TYPED_TEST(PoolTypedTest, OnDone_ThirtyTasksOnFiveWorkers_EachCallbackCalledOnce) {
  constexpr int n = 30;
  std::array<std::atomic<int>, n> done_calls{};
  std::array<std::atomic<int>, n> values{};
  std::atomic<int> error_calls{0};
  std::atomic<int> wrong_tags{0};

  procpool::pool pool(TestFixture::opts(5));
  std::vector<task_handle> handles;
  for (int i = 0; i < n; ++i) {
    const std::string tag = "t" + std::to_string(i);
    const auto idx = static_cast<std::size_t>(i);
    handles.push_back(pool.submit(
        tag, "square", i,
        [&, idx, tag](const procpool::result& r) {
          if (r.tag != tag || r.state != task_state::done) wrong_tags.fetch_add(1);
          values.at(idx).store(r.value.is_number_integer() ? r.value.get<int>() : -1);
          done_calls.at(idx).fetch_add(1);
        },
        [&](const procpool::result& /*r*/) { error_calls.fetch_add(1); }));
  }
  // ready() promises that the callbacks have run.
  ASSERT_TRUE(handles[0].wait_for(scaled(30s)));
  EXPECT_EQ(done_calls[0].load(), 1) << "handle ready before its on_done ran";

  pool.close();
  pool.join();

  for (std::size_t i = 0; i < done_calls.size(); ++i) {
    EXPECT_EQ(done_calls.at(i).load(), 1) << "on_done of t" << i;
    EXPECT_EQ(values.at(i).load(), static_cast<int>(i * i)) << "value seen by on_done of t" << i;
  }
  EXPECT_EQ(error_calls.load(), 0);
  EXPECT_EQ(wrong_tags.load(), 0);
  for (const auto& h : handles) {
    EXPECT_TRUE(h.ready()) << h.tag();
    EXPECT_EQ(h.state(), task_state::done) << h.tag();
  }
  const procpool::pool_stats s = pool.stats();
  EXPECT_LE(s.workers_started, 5U);
  EXPECT_GE(s.workers_started, 1U);
  EXPECT_EQ(s.done, static_cast<std::size_t>(n));
}

TYPED_TEST(PoolTypedTest, Close_DrainsEveryQueuedTask) {
  constexpr int n = 60;
  procpool::pool pool(TestFixture::opts(2));
  std::vector<task_handle> handles;
  for (int i = 0; i < n; ++i) {
    handles.push_back(pool.submit("t" + std::to_string(i), "square", i));
  }
  pool.close();
  pool.join();
  for (int i = 0; i < n; ++i) {
    const auto& h = handles[static_cast<std::size_t>(i)];
    EXPECT_TRUE(h.ready()) << h.tag() << " not ready after join";
    EXPECT_TRUE(ends_done(h, i * i, 1s));
  }
  const procpool::pool_stats s = pool.stats();
  EXPECT_EQ(s.done, static_cast<std::size_t>(n));
  EXPECT_EQ(s.queued, 0U);
  EXPECT_EQ(s.running, 0U);
  EXPECT_EQ(s.cancelled, 0U);
  EXPECT_EQ(s.workers_alive, 0U);
}

TYPED_TEST(PoolTypedTest, Terminate_CancelsQueuedTags) {
  auto& gate = this->new_fifo("gate");
  const auto grace = scaled(500ms);
  procpool::pool pool(TestFixture::opts(1).with_terminate_grace(grace));

  const task_handle blocker = pool.submit("gate", "gate", gate.path);
  ASSERT_TRUE(wait_until([&] { return blocker.state() == task_state::running; }, 10s))
      << "gate task never started; state " << procpool::to_string(blocker.state());
  std::vector<task_handle> queued;
  for (int i = 0; i < 4; ++i) queued.push_back(pool.submit("q" + std::to_string(i), "square", i));
  for (const auto& q : queued) EXPECT_EQ(q.state(), task_state::queued) << q.tag();

  const auto t0 = std::chrono::steady_clock::now();
  pool.terminate();
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, grace + scaled(5s)) << "terminate() returned past its grace";

  for (const auto& q : queued) {
    EXPECT_TRUE(q.ready()) << q.tag() << " not ready when terminate() returned";
    EXPECT_TRUE(ends_in(q, task_state::cancelled, 1s));
    try {
      (void)q.get();
      ADD_FAILURE() << q.tag() << ": get() of a cancelled tag did not throw";
    } catch (const procpool::task_error& e) {
      EXPECT_EQ(e.state(), task_state::cancelled);
      EXPECT_EQ(e.code_value(), errc::cancelled);
      EXPECT_EQ(e.tag(), q.tag());
    }
  }
  // The running gate was asked to stop: cancelled, or done if it returned first.
  ASSERT_TRUE(blocker.wait_for(scaled(5s)));
  EXPECT_TRUE(blocker.state() == task_state::cancelled || blocker.state() == task_state::done)
      << procpool::to_string(blocker.state());

  const auto all = pool.results();
  EXPECT_EQ(all.size(), 5U);
  for (const auto& [tag, r] : all) {
    EXPECT_EQ(r.tag, tag);
    EXPECT_TRUE(procpool::is_terminal(r.state)) << tag << ": " << procpool::to_string(r.state);
    if (tag != "gate") {
      EXPECT_EQ(r.state, task_state::cancelled) << tag;
    }
  }
  EXPECT_EQ(all.count("gate"), 1U);

  expect_errc([&] { (void)pool.submit("late", "square", 1); }, errc::closed);
  pool.terminate();  // idempotent
  pool.join();       // allowed after terminate()
  EXPECT_GE(pool.stats().cancelled, 4U);
}

TYPED_TEST(PoolTypedTest, Terminate_QueuedTagsReportCancelledToOnError) {
  auto& gate = this->new_fifo("gate");
  std::atomic<int> done_calls{0};
  std::atomic<int> error_calls{0};
  std::atomic<int> cancelled_seen{0};
  procpool::pool pool(TestFixture::opts(1).with_terminate_grace(scaled(300ms)));
  const task_handle blocker = pool.submit("gate", "gate", gate.path);
  ASSERT_TRUE(wait_until([&] { return blocker.state() == task_state::running; }, 10s));
  std::vector<task_handle> queued;
  for (int i = 0; i < 3; ++i) {
    queued.push_back(pool.submit(
        "q" + std::to_string(i), "square", i, [&](const procpool::result&) { done_calls.fetch_add(1); },
        [&](const procpool::result& r) {
          error_calls.fetch_add(1);
          if (r.state == task_state::cancelled) cancelled_seen.fetch_add(1);
        }));
  }
  pool.terminate();
  for (const auto& q : queued) ASSERT_TRUE(q.wait_for(scaled(5s))) << q.tag();
  EXPECT_EQ(error_calls.load(), 3) << "ready() implies the callbacks ran";
  pool.join();
  EXPECT_EQ(done_calls.load(), 0);
  EXPECT_EQ(error_calls.load(), 3);
  EXPECT_EQ(cancelled_seen.load(), 3);
}

TYPED_TEST(PoolTypedTest, LazyStart_OneShortTaskStartsOneWorker) {
  procpool::pool pool(TestFixture::opts(5));
  EXPECT_EQ(pool.stats().workers_started, 0U) << "the constructor must start no worker";
  EXPECT_EQ(pool.apply("one", "square", 3), 9);
  EXPECT_EQ(pool.stats().workers_started, 1U);
  EXPECT_TRUE(wait_until([&] { return pool.stats().workers_idle == 1; }, 5s))
      << "the worker never reported idle; workers_idle " << pool.stats().workers_idle;
  EXPECT_EQ(pool.stats().workers_alive, 1U);
  pool.close();
  pool.join();
  EXPECT_EQ(pool.stats().workers_started, 1U);
}

TYPED_TEST(PoolTypedTest, LazyStart_SequentialTasksReuseOneWorker) {
  procpool::pool pool(TestFixture::opts(5));
  for (int i = 0; i < 6; ++i) {
    const task_handle h = pool.submit("s" + std::to_string(i), "square", i);
    ASSERT_TRUE(ends_done(h, i * i));
    EXPECT_EQ(pool.stats().workers_started, 1U) << "after task " << i;
  }
  pool.close();
  pool.join();
  EXPECT_EQ(pool.stats().workers_started, 1U);
}

TYPED_TEST(PoolTypedTest, Destructor_TerminatesAndHandlesOutlivePool) {
  auto& gate = this->new_fifo("gate");
  task_handle blocker;
  task_handle queued;
  {
    procpool::pool pool(TestFixture::opts(1).with_terminate_grace(scaled(300ms)));
    blocker = pool.submit("gate", "gate", gate.path);
    ASSERT_TRUE(wait_until([&] { return blocker.state() == task_state::running; }, 10s));
    queued = pool.submit("queued", "square", 2);
  }  // no close()/join(): the destructor terminates
  ASSERT_TRUE(queued.valid());
  EXPECT_TRUE(queued.ready());
  EXPECT_EQ(queued.state(), task_state::cancelled);
  EXPECT_TRUE(blocker.ready());
  EXPECT_TRUE(procpool::is_terminal(blocker.state())) << procpool::to_string(blocker.state());
  EXPECT_EQ(queued.result().tag, "queued");
}

// ===========================================================================
// multiprocessing.Pool semantics
// ===========================================================================

TYPED_TEST(PoolTypedTest, Apply_ReturnsValue) {
  procpool::pool pool(TestFixture::opts(2));
  EXPECT_EQ(pool.apply("a1", "square", 7), 49);
  EXPECT_EQ(pool.apply("a2", "add", {2, 3}), 5);
  const json obj = {{"k", json::array({1, "two", nullptr})}, {"n", 1.5}};
  EXPECT_EQ(pool.apply("a3", "echo", obj), obj);
  EXPECT_EQ(pool.apply("a4", "noop"), nullptr);
  EXPECT_THROW((void)pool.apply("a5", "throw_runtime", "no"), procpool::task_error);
  // apply() never retains: its tag is free again once it returns.
  expect_errc([&] { (void)pool.result("a1"); }, errc::unknown_tag);
  EXPECT_EQ(pool.apply("a1", "square", 8), 64) << "the same tag again";
  pool.close();
  pool.join();
}

TYPED_TEST(PoolTypedTest, Map_EmptyInput_ReturnsEmpty) {
  procpool::pool pool(TestFixture::opts(2));
  EXPECT_TRUE(pool.map("square", std::vector<json>{}).empty());
  EXPECT_TRUE(pool.map("square", std::vector<int>{}).empty());
  EXPECT_TRUE(pool.starmap("add", std::vector<json>{}).empty());
  pool.close();
  pool.join();
}

TYPED_TEST(PoolTypedTest, Map_PreservesInputOrder) {
  procpool::pool pool(TestFixture::opts(3));
  std::vector<int> inputs(200);
  for (int i = 0; i < 200; ++i) inputs[static_cast<std::size_t>(i)] = 199 - i;
  const std::vector<json> out = pool.map("square", inputs);
  ASSERT_EQ(out.size(), inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_EQ(out[i], inputs[i] * inputs[i]) << "position " << i;
  }
  EXPECT_TRUE(pool.results().empty()) << "map's tasks are untagged: no result-map entries";
  pool.close();
  pool.join();
}

TYPED_TEST(PoolTypedTest, Map_Failure_ThrowsFirstFailureInInputOrder) {
  procpool::pool pool(TestFixture::opts(2));
  try {
    (void)pool.map("fail_if_negative", std::vector<int>{1, -2, 3, -4, 5});
    ADD_FAILURE() << "map with failing inputs did not throw";
  } catch (const procpool::task_error& e) {
    EXPECT_EQ(e.remote_message(), "negative -2");
    EXPECT_TRUE(contains(e.remote_type(), "runtime_error")) << e.remote_type();
    EXPECT_EQ(e.state(), task_state::failed);
  }
  // "after every task has finished"
  const procpool::pool_stats s = pool.stats();
  EXPECT_EQ(s.done + s.failed, 5U);
  EXPECT_EQ(s.failed, 2U);
  pool.close();
  pool.join();
}

TYPED_TEST(PoolTypedTest, Starmap_AppliesArgumentLists) {
  procpool::pool pool(TestFixture::opts(2));
  std::vector<json> arg_lists;
  for (int i = 0; i < 50; ++i) arg_lists.push_back(json::array({i, 2 * i}));
  const std::vector<json> out = pool.starmap("add", arg_lists);
  ASSERT_EQ(out.size(), arg_lists.size());
  for (int i = 0; i < 50; ++i) EXPECT_EQ(out[static_cast<std::size_t>(i)], 3 * i);
  pool.close();
  pool.join();
}

TYPED_TEST(PoolTypedTest, ImapUnordered_YieldsEachInputExactlyOnce) {
  procpool::pool pool(TestFixture::opts(3));
  std::vector<int> inputs;
  for (int i = 0; i < 100; ++i) inputs.push_back(i % 10);
  std::multiset<std::string> tags;
  std::multiset<int> values;
  {
    auto it = pool.imap_unordered("square", inputs.begin(), inputs.end(), 4);
    for (std::size_t guard = 0; guard <= inputs.size() + 1; ++guard) {
      const std::optional<procpool::result> r = it.next();
      if (!r) break;
      tags.insert(r->tag);
      ASSERT_TRUE(r->ok()) << r->tag << ": " << r->error_message;
      values.insert(r->value.get<int>());
      const std::size_t index = std::stoul(r->tag);
      ASSERT_LT(index, inputs.size());
      EXPECT_EQ(r->value, inputs[index] * inputs[index]) << "tag " << r->tag;
    }
    EXPECT_FALSE(it.next().has_value()) << "next() after the end";
  }
  std::multiset<std::string> expected_tags;
  std::multiset<int> expected_values;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    expected_tags.insert(std::to_string(i));
    expected_values.insert(inputs[i] * inputs[i]);
  }
  EXPECT_EQ(tags, expected_tags);
  EXPECT_EQ(values, expected_values);
  pool.close();
  pool.join();
}

TYPED_TEST(PoolTypedTest, ImapUnordered_ReadsInputLazily) {
  constexpr int total = 60;
  constexpr std::size_t window = 2;
  constexpr int slack = 2;
  std::atomic<int> calls{0};
  auto source = [&calls]() -> std::optional<json> {
    const int i = calls.fetch_add(1);
    if (i >= total) return std::nullopt;
    return json(i);
  };
  auto pulled = [&calls] {
    const int c = calls.load();
    return c < total ? c : total;
  };

  procpool::pool pool(TestFixture::opts(2));
  {
    auto it = pool.imap_unordered_from("square", source, window);
    std::optional<procpool::result> first = it.next();
    ASSERT_TRUE(first.has_value());
    EXPECT_LE(pulled(), static_cast<int>(window) + slack)
        << "imap_unordered read the input eagerly";
    int yielded = 1;
    std::multiset<int> values{first->value.get<int>()};
    for (int guard = 0; guard <= total; ++guard) {
      std::optional<procpool::result> r = it.next();
      if (!r) break;
      ++yielded;
      ASSERT_TRUE(r->ok()) << r->tag << ": " << r->error_message;
      values.insert(r->value.get<int>());
      EXPECT_LE(pulled() - yielded, static_cast<int>(window) + slack)
          << "more than the window in flight";
    }
    EXPECT_EQ(yielded, total);
    std::multiset<int> expected;
    for (int i = 0; i < total; ++i) expected.insert(i * i);
    EXPECT_EQ(values, expected);
  }
  pool.close();
  pool.join();
}

TYPED_TEST(PoolTypedTest, Map_Chunked_PreservesOrderAndFailurePosition) {
  procpool::pool pool(TestFixture::opts(2));
  std::vector<int> inputs(50);
  for (int i = 0; i < 50; ++i) inputs[static_cast<std::size_t>(i)] = i;
  const std::vector<json> out = pool.map("square", inputs, 7);  // the last chunk is short
  ASSERT_EQ(out.size(), inputs.size());
  for (int i = 0; i < 50; ++i) EXPECT_EQ(out[static_cast<std::size_t>(i)], i * i) << i;

  std::vector<json> pairs;
  for (int i = 0; i < 10; ++i) pairs.push_back(json::array({i, i}));
  const std::vector<json> sums = pool.starmap("add", pairs, 3);
  ASSERT_EQ(sums.size(), pairs.size());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(sums[static_cast<std::size_t>(i)], 2 * i) << i;

  try {
    (void)pool.map("fail_if_negative", std::vector<int>{1, 2, 3, -4, 5, -6}, 4);
    ADD_FAILURE() << "map with failing inputs did not throw";
  } catch (const procpool::task_error& e) {
    EXPECT_EQ(e.tag(), "3") << "the tag is the failing input's position";
    EXPECT_EQ(e.remote_message(), "negative -4");
    EXPECT_EQ(e.state(), task_state::failed);
  }
  EXPECT_EQ(pool.map("square", std::vector<int>{3}, 100), (std::vector<json>{9}))
      << "a chunk larger than the input";
  pool.close();
  pool.join();
}

TYPED_TEST(PoolTypedTest, Map_MoreInputsThanQueue_Completes) {
  procpool::pool pool(TestFixture::opts(2).with_max_queue(4));
  std::vector<int> inputs(50);
  for (int i = 0; i < 50; ++i) inputs[static_cast<std::size_t>(i)] = i;
  const std::vector<json> out = pool.map("square", inputs);
  ASSERT_EQ(out.size(), inputs.size());
  for (int i = 0; i < 50; ++i) EXPECT_EQ(out[static_cast<std::size_t>(i)], i * i);
  pool.close();
  pool.join();
}

TYPED_TEST(PoolTypedTest, Map_BadInput_RefusesWholeCall) {
  procpool::pool pool(TestFixture::opts(2));
  const std::string what = expect_errc(
      [&] { (void)pool.map("square", std::vector<json>{1, "x", 3}); }, errc::bad_arguments);
  EXPECT_TRUE(contains(what, "square")) << what;
  expect_errc([&] { (void)pool.map("no_such_task", std::vector<int>{1}); }, errc::unknown_task);
  expect_errc([&] { (void)pool.starmap("add", std::vector<json>{json::array({1, 2}), 3}); },
              errc::bad_arguments);
  EXPECT_EQ(pool.stats().submitted, 0U) << "a refused map must accept nothing";
  EXPECT_EQ(pool.map("square", std::vector<int>{2, 3}), (std::vector<json>{4, 9}));
  pool.close();
  pool.join();
}

TYPED_TEST(PoolTypedTest, ImapUnordered_FailedInputs_YieldedOnceWithTheirState) {
  procpool::pool pool(TestFixture::opts(2));
  const std::vector<int> inputs{1, -2, 3, -4};
  std::map<std::string, procpool::result> seen;
  {
    auto it = pool.imap_unordered("fail_if_negative", inputs.begin(), inputs.end());
    for (std::size_t guard = 0; guard <= inputs.size() + 1; ++guard) {
      std::optional<procpool::result> r = it.next();
      if (!r) break;
      EXPECT_TRUE(seen.emplace(r->tag, *r).second) << "tag " << r->tag << " yielded twice";
    }
  }
  ASSERT_EQ(seen.size(), 4U);
  EXPECT_TRUE(seen.at("0").ok());
  EXPECT_EQ(seen.at("0").value, 1);
  EXPECT_EQ(seen.at("1").state, task_state::failed);
  EXPECT_EQ(seen.at("1").error_message, "negative -2");
  EXPECT_TRUE(seen.at("2").ok());
  EXPECT_EQ(seen.at("3").state, task_state::failed);
  pool.close();
  pool.join();
}

TYPED_TEST(PoolTypedTest, Exception_CarriesTypeAndMessage) {
  procpool::pool pool(TestFixture::opts(2));
  const task_handle bad = pool.submit("bad", "throw_runtime", "boom 42");
  const task_handle logic = pool.submit("logic", "throw_logic", "wrong");
  const task_handle sibling = pool.submit("sibling", "square", 5);
  ASSERT_TRUE(bad.wait_for(scaled(30s)));
  ASSERT_TRUE(logic.wait_for(scaled(30s)));

  try {
    (void)bad.get();
    ADD_FAILURE() << "get() of a failed task did not throw";
  } catch (const procpool::task_error& e) {
    EXPECT_TRUE(contains(e.remote_type(), "runtime_error")) << e.remote_type();
    EXPECT_EQ(e.remote_message(), "boom 42");
    EXPECT_EQ(e.tag(), "bad");
    EXPECT_EQ(e.state(), task_state::failed);
    EXPECT_EQ(e.code_value(), errc::task_failed);
  }
  const procpool::result r = bad.result();
  EXPECT_EQ(r.state, task_state::failed);
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error_type, "runtime_error")) << r.error_type;
  EXPECT_EQ(r.error_message, "boom 42");
  EXPECT_EQ(pool.result("bad").state, task_state::failed);

  try {
    (void)logic.get();
    ADD_FAILURE() << "get() of a failed task did not throw";
  } catch (const procpool::task_error& e) {
    EXPECT_TRUE(contains(e.remote_type(), "logic_error")) << e.remote_type();
    EXPECT_EQ(e.remote_message(), "wrong");
  }
  EXPECT_TRUE(ends_done(sibling, 25));
  pool.close();
  pool.join();
}

TYPED_TEST(PoolTypedTest, Waits_BlockUntilTagsAreTerminal) {
  auto& gate = this->new_fifo("gate");
  procpool::pool pool(TestFixture::opts(2));
  const task_handle blocker = pool.submit("gate", "gate", gate.path);
  for (int i = 0; i < 3; ++i) (void)pool.submit("s" + std::to_string(i), "square", i);
  auto all = std::async(std::launch::async, [&] { return pool.results(); });
  auto one = std::async(std::launch::async, [&] { return pool.result("gate"); });
  // Declared after the futures, so it runs first when the test ends early: the
  // futures' destructors wait for results() and result().
  procpool_test::scope_exit release([&] { procpool_test::open_gate(gate.fd); });

  // Bounded waits that must time out while the gate is closed.
  EXPECT_FALSE(blocker.wait_for(scaled(50ms)));
  EXPECT_FALSE(blocker.ready());
  EXPECT_EQ(all.wait_for(scaled(100ms)), std::future_status::timeout)
      << "results() returned while a tag was still running";
  EXPECT_EQ(one.wait_for(std::chrono::milliseconds{0}), std::future_status::timeout)
      << "result(tag) returned while the tag was still running";

  release.release();
  procpool_test::open_gate(gate.fd);
  ASSERT_EQ(all.wait_for(scaled(10s)), std::future_status::ready);
  ASSERT_EQ(one.wait_for(scaled(10s)), std::future_status::ready);
  const auto every = all.get();
  EXPECT_EQ(every.size(), 4U);
  for (const auto& [tag, r] : every) EXPECT_EQ(r.state, task_state::done) << tag;
  EXPECT_EQ(one.get().value, static_cast<int>('g'));
  pool.close();
  pool.join();
}

TYPED_TEST(PoolTypedTest, Submit_ConcurrentSubmitters_EveryTagAccounted) {
  constexpr int threads = 4;
  constexpr int per_thread = 50;
  procpool::pool pool(TestFixture::opts(2).with_max_queue(8));
  std::atomic<int> refusals{0};
  std::vector<std::thread> submitters;
  for (int t = 0; t < threads; ++t) {
    submitters.emplace_back([&pool, &refusals, t] {
      for (int i = 0; i < per_thread; ++i) {
        try {
          (void)pool.submit("w" + std::to_string(t) + "-" + std::to_string(i), "square", i);
        } catch (...) {
          refusals.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : submitters) th.join();
  EXPECT_EQ(refusals.load(), 0);
  const auto all = pool.results();
  EXPECT_EQ(all.size(), static_cast<std::size_t>(threads * per_thread));
  for (const auto& [tag, r] : all) {
    EXPECT_EQ(r.state, task_state::done) << tag;
    const int i = std::stoi(tag.substr(tag.find('-') + 1));
    EXPECT_EQ(r.value, i * i) << tag;
  }
  pool.close();
  pool.join();
  EXPECT_EQ(pool.stats().submitted, static_cast<std::size_t>(threads * per_thread));
  EXPECT_EQ(pool.stats().done, static_cast<std::size_t>(threads * per_thread));
}

TYPED_TEST(PoolTypedTest, Join_BeforeClose_ThrowsNotClosed) {
  procpool::pool pool(TestFixture::opts(1));
  const task_handle h = pool.submit("t", "square", 6);
  expect_errc([&] { pool.join(); }, errc::not_closed);
  EXPECT_TRUE(ends_done(h, 36));
  pool.close();
  pool.close();  // idempotent
  pool.join();
}

// ===========================================================================
// Bad input at the call: refused with a reason, nothing accepted is lost
// ===========================================================================

TYPED_TEST(PoolTypedTest, Submit_UnknownTask_Refused) {
  procpool::pool pool(TestFixture::opts(1));
  const task_handle accepted = pool.submit("ok", "square", 3);
  const std::string what =
      expect_errc([&] { (void)pool.submit("t", "no_such_task", 1); }, errc::unknown_task);
  EXPECT_TRUE(contains(what, "no_such_task")) << what;

  std::error_code ec;
  const task_handle h = pool.try_submit("t", "no_such_task", 1, ec);
  EXPECT_EQ(ec, errc::unknown_task);
  EXPECT_FALSE(h.valid());

  // The refused tag was not taken.
  EXPECT_TRUE(ends_done(pool.submit("t", "square", 1), 1));
  EXPECT_TRUE(ends_done(accepted, 9));
  pool.close();
  pool.join();
}

TYPED_TEST(PoolTypedTest, Submit_DuplicateTag_RefusedUntilTaken) {
  procpool::pool pool(TestFixture::opts(1));
  const task_handle first = pool.submit("dup", "square", 2);
  expect_errc([&] { (void)pool.submit("dup", "square", 3); }, errc::duplicate_tag);
  ASSERT_TRUE(ends_done(first, 4));
  // Still held once finished.
  expect_errc([&] { (void)pool.submit("dup", "square", 3); }, errc::duplicate_tag);
  std::error_code ec;
  EXPECT_FALSE(pool.try_submit("dup", "square", 3, ec).valid());
  EXPECT_EQ(ec, errc::duplicate_tag);

  const procpool::result taken = pool.take("dup");
  EXPECT_EQ(taken.value, 4);
  const task_handle second = pool.submit("dup", "square", 3);
  EXPECT_TRUE(ends_done(second, 9));
  EXPECT_EQ(first.get(), 4) << "the first handle keeps its own outcome";
  pool.close();
  pool.join();
}

TYPED_TEST(PoolTypedTest, Submit_BadArguments_RefusedNamingTask) {
  procpool::pool pool(TestFixture::opts(1));
  const task_handle accepted = pool.submit("ok", "square", 3);
  const std::string what =
      expect_errc([&] { (void)pool.submit("t", "square", "x"); }, errc::bad_arguments);
  EXPECT_TRUE(contains(what, "square")) << what;
  expect_errc([&] { (void)pool.submit("t", "square", json{{"x", 1}}); }, errc::bad_arguments);
  expect_errc([&] { (void)pool.submit("t", "throw_runtime", 5); }, errc::bad_arguments);
  EXPECT_THROW((void)pool.apply("t", "add", {1, "two"}), procpool::error);
  EXPECT_TRUE(ends_done(accepted, 9));
  EXPECT_TRUE(ends_done(pool.submit("t", "square", 4), 16)) << "refusals must not hold the tag";
  pool.close();
  pool.join();
}

TYPED_TEST(PoolTypedTest, Submit_WrongArity_Refused) {
  procpool::pool pool(TestFixture::opts(1));
  const task_handle accepted = pool.submit("ok", "add", {1, 2});
  for (const json& args : {json::array({1}), json::array({1, 2, 3}), json(7), json(nullptr)}) {
    const std::string what =
        expect_errc([&] { (void)pool.submit("t", "add", args); }, errc::bad_arguments);
    EXPECT_TRUE(contains(what, "add")) << "args " << args.dump() << ": " << what;
  }
  expect_errc([&] { (void)pool.submit("t", "noop", json::array({1})); }, errc::bad_arguments);
  // No arguments: null or [].
  EXPECT_TRUE(ends_done(pool.submit("n1", "noop"), nullptr));
  EXPECT_TRUE(ends_done(pool.submit("n2", "noop", json::array()), nullptr));
  EXPECT_TRUE(ends_done(accepted, 3));
  pool.close();
  pool.join();
}

// One rule for a one-parameter task: `args` itself when it converts, else a
// one-element array whose element converts; map and the initializer alike.
TYPED_TEST(PoolTypedTest, Submit_OneParameter_TakesValueOrOneElementArray) {
  procpool::pool pool(TestFixture::opts(1).with_initializer("sum", json::array({json::array({1, 2})})));
  EXPECT_TRUE(ends_done(pool.submit("s1", "sum", json::array({1, 2, 3})), 6));
  EXPECT_TRUE(ends_done(pool.submit("s2", "sum", json::array({json::array({1, 2, 3})})), 6));
  EXPECT_TRUE(ends_done(pool.submit("s3", "sum", json::array()), 0)) << "[] is an empty vector";
  EXPECT_TRUE(ends_done(pool.submit("q1", "square", 5), 25));
  EXPECT_TRUE(ends_done(pool.submit("q2", "square", json::array({5})), 25));
  EXPECT_TRUE(ends_done(pool.submit("e1", "echo", json::array({5})), json::array({5})))
      << "as is first: json takes [5] itself";
  EXPECT_EQ(pool.map("sum", std::vector<json>{json::array({1, 2}), json::array({json::array({3})})}),
            (std::vector<json>{3, 3}));
  for (const json& bad : {json("x"), json::array({1, "x"}), json::array({json::array({1}), 2}), json(nullptr)}) {
    const std::string what = expect_errc([&] { (void)pool.submit("t", "sum", bad); }, errc::bad_arguments);
    EXPECT_TRUE(contains(what, "task 'sum' takes one argument of type std::vector<int>: pass it as is or "
                               "as a one-element array"))
        << bad.dump() << ": " << what;
  }
  pool.close();
  pool.join();
}

TYPED_TEST(PoolTypedTest, Initializer_OneParameterBadShape_RefusedNamingShape) {
  auto o = TestFixture::opts(1).with_initializer("sum", "x");
  const std::string what = expect_errc([&] { procpool::pool p(o); }, errc::bad_arguments);
  EXPECT_TRUE(contains(what, "initializer_args")) << what;
  EXPECT_TRUE(contains(what, "std::vector<int>")) << what;
}

TYPED_TEST(PoolTypedTest, Submit_PayloadTooLarge_Refused) {
  procpool::pool pool(TestFixture::opts(1).with_max_payload_bytes(1024));
  const task_handle accepted = pool.submit("ok", "echo", "small");
  expect_errc([&] { (void)pool.submit("big", "echo", std::string(4096, 'x')); }, errc::too_large);
  std::error_code ec;
  EXPECT_FALSE(pool.try_submit("big", "echo", std::string(4096, 'x'), ec).valid());
  EXPECT_EQ(ec, errc::too_large);
  EXPECT_TRUE(ends_done(accepted, "small"));
  EXPECT_TRUE(ends_done(pool.submit("big", "echo", "fits now"), "fits now"));
  pool.close();
  pool.join();
}

TYPED_TEST(PoolTypedTest, Result_TooLarge_FailsOnlyThatTask) {
  procpool::pool pool(TestFixture::opts(1).with_max_payload_bytes(1024));
  const task_handle big = pool.submit("big", "repeat", 4096);
  EXPECT_TRUE(ends_in(big, task_state::failed));
  EXPECT_TRUE(ends_done(pool.submit("after", "repeat", 10), std::string(10, 'x')));
  pool.close();
  pool.join();
}

TYPED_TEST(PoolTypedTest, Submit_EmptyTag_Refused) {
  procpool::pool pool(TestFixture::opts(1));
  const task_handle accepted = pool.submit("ok", "square", 3);
  expect_errc([&] { (void)pool.submit("", "square", 1); }, errc::invalid_argument);
  EXPECT_TRUE(ends_done(accepted, 9));
  pool.close();
  pool.join();
}

TYPED_TEST(PoolTypedTest, Submit_AfterClose_RefusedClosed) {
  procpool::pool pool(TestFixture::opts(1));
  const task_handle accepted = pool.submit("ok", "square", 3);
  pool.close();
  expect_errc([&] { (void)pool.submit("late", "square", 1); }, errc::closed);
  expect_errc([&] { (void)pool.try_submit("late", "square", 1); }, errc::closed);
  expect_errc([&] { (void)pool.submit_for(scaled(100ms), "late", "square", 1); }, errc::closed);
  std::error_code ec;
  EXPECT_FALSE(pool.try_submit("late", "square", 1, ec).valid());
  EXPECT_EQ(ec, errc::closed);
  expect_errc([&] { (void)pool.apply("late", "square", 1); }, errc::closed);
  expect_errc([&] { (void)pool.map("square", std::vector<int>{1}); }, errc::closed);
  pool.join();
  EXPECT_TRUE(ends_done(accepted, 9, 1s));
}

TYPED_TEST(PoolTypedTest, Options_InvalidValues_ConstructorThrows) {
  {
    auto o = TestFixture::opts(0);
    const std::string what =
        expect_errc([&] { procpool::pool p(o); }, errc::invalid_argument);
    EXPECT_TRUE(contains(what, "workers")) << what;
  }
  {
    auto o = TestFixture::opts(-1);
    expect_errc([&] { procpool::pool p(o); }, errc::invalid_argument);
  }
  {
    auto o = TestFixture::opts(1).with_max_queue(0);
    const std::string what =
        expect_errc([&] { procpool::pool p(o); }, errc::invalid_argument);
    EXPECT_TRUE(contains(what, "max_queue")) << what;
  }
  {
    auto o = TestFixture::opts(1).with_initializer("no_such_initializer");
    expect_errc([&] { procpool::pool p(o); }, errc::unknown_task);
  }
}

// ===========================================================================
// Backpressure
// ===========================================================================

TYPED_TEST(PoolTypedTest, Backpressure_FullQueue_RefusesOrBlocksUntilSpace) {
  auto& gate = this->new_fifo("gate");
  procpool::pool pool(TestFixture::opts(1).with_max_queue(4));

  const task_handle blocker = pool.submit("gate", "gate", gate.path);
  ASSERT_TRUE(wait_until([&] { return blocker.state() == task_state::running; }, 10s))
      << "gate task never started; state " << procpool::to_string(blocker.state());
  std::vector<task_handle> queued;
  for (int i = 0; i < 4; ++i) queued.push_back(pool.submit("q" + std::to_string(i), "square", i));
  {
    const procpool::pool_stats s = pool.stats();
    EXPECT_EQ(s.queued, 4U);
    EXPECT_EQ(s.running, 1U);
  }

  // try_submit refuses at once.
  expect_errc([&] { (void)pool.try_submit("over", "square", 1); }, errc::full);
  std::error_code ec;
  EXPECT_FALSE(pool.try_submit("over", "square", 1, ec).valid());
  EXPECT_EQ(ec, errc::full);

  // A blocking submit, from another thread.
  std::atomic<bool> returned{false};
  task_handle blocked_handle;
  std::exception_ptr blocked_error;
  std::thread submitter([&] {
    try {
      blocked_handle = pool.submit("blocked", "square", 7);
    } catch (...) {
      blocked_error = std::current_exception();
    }
    returned.store(true);
  });
  procpool_test::scope_exit join_submitter([&] {
    if (submitter.joinable()) {
      if (!returned.load()) pool.terminate();  // unblocks the submit (closed)
      submitter.join();
    }
  });

  // submit_for gives up after its timeout, which also gives the blocked submit
  // that long to (wrongly) return.
  const auto timeout = scaled(150ms);
  const auto t0 = std::chrono::steady_clock::now();
  expect_errc([&] { (void)pool.submit_for(timeout, "over", "square", 1); }, errc::full);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, timeout - 5ms)
      << "submit_for returned before its timeout";
  EXPECT_FALSE(returned.load()) << "submit() returned while the queue was full";

  // Open the gate: the worker takes the next task, the blocked submit gets room.
  procpool_test::open_gate(gate.fd);
  ASSERT_TRUE(wait_until([&] { return returned.load(); }, 10s))
      << "submit() still blocked after the queue drained";
  submitter.join();
  if (blocked_error) std::rethrow_exception(blocked_error);

  EXPECT_TRUE(ends_done(blocker, static_cast<int>('g')));
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(ends_done(queued[static_cast<std::size_t>(i)], i * i));
  EXPECT_TRUE(ends_done(blocked_handle, 49));
  // The refused tag "over" was never taken.
  EXPECT_TRUE(ends_done(pool.submit("over", "square", 8), 64));
  pool.close();
  pool.join();
}

TYPED_TEST(PoolTypedTest, SubmitFor_QueueHasRoom_Accepts) {
  procpool::pool pool(TestFixture::opts(1).with_max_queue(2));
  const task_handle h = pool.submit_for(scaled(1s), "t", "square", 5);
  EXPECT_TRUE(ends_done(h, 25));
  const task_handle h2 = pool.try_submit("t2", "square", 6);
  EXPECT_TRUE(ends_done(h2, 36));
  pool.close();
  pool.join();
}

// ===========================================================================
// Callbacks
// ===========================================================================

TYPED_TEST(PoolTypedTest, OnError_CalledWithFailedResult_OnDoneNotCalled) {
  std::atomic<int> bad_done{0};
  std::atomic<int> bad_error{0};
  std::atomic<int> good_done{0};
  std::atomic<int> good_error{0};
  std::mutex m;
  std::optional<procpool::result> seen;

  procpool::pool pool(TestFixture::opts(2));
  const task_handle bad = pool.submit(
      "bad", "throw_runtime", "cb boom", [&](const procpool::result&) { bad_done.fetch_add(1); },
      [&](const procpool::result& r) {
        const std::lock_guard<std::mutex> lock(m);
        seen = r;
        bad_error.fetch_add(1);
      });
  const task_handle good = pool.submit(
      "good", "square", 4, [&](const procpool::result&) { good_done.fetch_add(1); },
      [&](const procpool::result&) { good_error.fetch_add(1); });
  ASSERT_TRUE(bad.wait_for(scaled(30s)));
  ASSERT_TRUE(good.wait_for(scaled(30s)));
  // ready() implies the callbacks have run.
  EXPECT_EQ(bad_error.load(), 1);
  EXPECT_EQ(good_done.load(), 1);
  pool.close();
  pool.join();

  EXPECT_EQ(bad_done.load(), 0) << "on_done called for a failed task";
  EXPECT_EQ(bad_error.load(), 1);
  EXPECT_EQ(good_done.load(), 1);
  EXPECT_EQ(good_error.load(), 0) << "on_error called for a done task";
  const std::lock_guard<std::mutex> lock(m);
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->tag, "bad");
  EXPECT_EQ(seen->state, task_state::failed);
  EXPECT_TRUE(contains(seen->error_type, "runtime_error")) << seen->error_type;
  EXPECT_EQ(seen->error_message, "cb boom");
}

TYPED_TEST(PoolTypedTest, Callback_MaySubmitFollowUpTask) {
  std::promise<task_handle> follow_up;
  auto follow_up_future = follow_up.get_future();
  procpool::pool pool(TestFixture::opts(2));
  const task_handle first = pool.submit("first", "square", 3, [&](const procpool::result& r) {
    try {
      follow_up.set_value(pool.submit("second", "square", r.value.get<int>()));
    } catch (...) {
      follow_up.set_exception(std::current_exception());
    }
  });
  ASSERT_EQ(follow_up_future.wait_for(scaled(30s)), std::future_status::ready)
      << "on_done never ran";
  const task_handle second = follow_up_future.get();
  EXPECT_TRUE(ends_done(first, 9));
  EXPECT_TRUE(ends_done(second, 81));
  pool.close();
  pool.join();
}

TYPED_TEST(PoolTypedTest, Callback_JoinFromCallback_RefusedWithoutDeadlock) {
  auto& gate = this->new_fifo("gate");
  std::promise<int> outcome;  // the errc join() threw, 0 if it returned
  auto outcome_future = outcome.get_future();
  procpool::pool pool(TestFixture::opts(1));
  const task_handle h = pool.submit("g", "gate", gate.path, [&](const procpool::result&) {
    try {
      pool.join();
      outcome.set_value(0);
    } catch (const procpool::error& e) {
      outcome.set_value(static_cast<int>(e.code_value()));
    } catch (...) {
      outcome.set_value(-1);
    }
  });
  pool.close();  // join() is now allowed, except from the callback thread
  procpool_test::open_gate(gate.fd);
  ASSERT_EQ(outcome_future.wait_for(scaled(10s)), std::future_status::ready)
      << "join() inside a callback blocked";
  EXPECT_EQ(outcome_future.get(), static_cast<int>(errc::invalid_argument));
  pool.join();
  EXPECT_TRUE(ends_done(h, static_cast<int>('g'), 1s));
}

TYPED_TEST(PoolTypedTest, Callback_Throws_CountedAndPoolKeepsServing) {
  procpool::pool pool(TestFixture::opts(1));
  const task_handle h = pool.submit("t", "square", 2, [](const procpool::result&) {
    throw std::runtime_error("callback failure (expected by the test)");
  });
  EXPECT_TRUE(ends_done(h, 4));
  EXPECT_TRUE(ends_done(pool.submit("after", "square", 3), 9));
  pool.close();
  pool.join();
  EXPECT_EQ(pool.stats().callback_errors, 1U);
}

// ===========================================================================
// Workers: initializer, recycling, crash
// ===========================================================================

TYPED_TEST(PoolTypedTest, Initializer_RunsOncePerWorker) {
  procpool_test::reset_initializer_record();
  procpool::pool pool(TestFixture::opts(2).with_initializer("init_mark", 42));
  std::vector<task_handle> handles;
  for (int i = 0; i < 12; ++i) handles.push_back(pool.submit("i" + std::to_string(i), "init_info"));
  std::set<int> pids;
  for (const auto& h : handles) {
    ASSERT_TRUE(ends_in(h, task_state::done));
    const json info = h.get();
    EXPECT_EQ(info.at("thread_runs"), 1) << h.tag() << ": " << info.dump();
    EXPECT_EQ(info.at("value"), 42) << h.tag() << ": " << info.dump();
    if constexpr (TestFixture::is_process) {
      EXPECT_EQ(info.at("process_runs"), 1) << h.tag() << ": " << info.dump();
      EXPECT_NE(info.at("pid").get<int>(), static_cast<int>(::getpid()));
    }
    pids.insert(info.at("pid").get<int>());
  }
  pool.close();
  pool.join();
  const std::size_t started = pool.stats().workers_started;
  EXPECT_GE(started, 1U);
  EXPECT_LE(started, 2U);
  if constexpr (TestFixture::is_process) {
    EXPECT_LE(pids.size(), started);
    EXPECT_EQ(procpool_test::initializer_runs_in_this_process(), 0)
        << "the initializer ran in the supervisor";
  } else {
    EXPECT_EQ(static_cast<std::size_t>(procpool_test::initializer_runs_in_this_process()),
              started)
        << "thread workers: one initializer run per worker thread";
  }
}

TYPED_TEST(PoolTypedTest, Initializer_Throws_PoolFailsWithSpawnFailed) {
  procpool::options o = TestFixture::opts(1).with_initializer("throw_runtime", "init boom");
  o.max_start_failures = 1;  // the second start failure fails the pool
  procpool::pool pool(o);
  const task_handle h = pool.submit("t", "square", 2);
  ASSERT_TRUE(ends_in(h, task_state::cancelled, 15s))
      << "a queued tag of a failed pool ends cancelled";
  const std::string what =
      expect_errc([&] { (void)pool.submit("t2", "square", 2); }, errc::spawn_failed);
  EXPECT_TRUE(contains(what, "init boom")) << "the underlying error: " << what;
  const procpool::pool_stats s = pool.stats();
  EXPECT_EQ(s.start_failures, 2U);
  EXPECT_LE(s.workers_started, 2U) << "no fork storm";
  pool.close();
  pool.join();
}

TYPED_TEST(PoolTypedTest, MaxTasksPerWorker_RecyclesWorkers) {
  procpool::pool pool(TestFixture::opts(2).with_max_tasks_per_worker(2));
  std::vector<task_handle> handles;
  for (int i = 0; i < 10; ++i) handles.push_back(pool.submit("p" + std::to_string(i), "pid"));
  std::map<int, int> tasks_per_pid;
  for (const auto& h : handles) {
    ASSERT_TRUE(ends_in(h, task_state::done));
    ++tasks_per_pid[h.get().get<int>()];
  }
  pool.close();
  pool.join();
  EXPECT_EQ(handles.size(), 10U);
  const procpool::pool_stats s = pool.stats();
  EXPECT_EQ(s.done, 10U);
  EXPECT_GE(s.workers_started, 5U) << "2 tasks per worker, 10 tasks";
  if constexpr (TestFixture::is_process) {
    EXPECT_GE(tasks_per_pid.size(), 5U);
    for (const auto& [p, count] : tasks_per_pid) {
      EXPECT_LE(count, 2) << "worker " << p << " ran " << count << " tasks";
    }
  }
}

TYPED_TEST(PoolTypedTest, WorkerKilled_TaskEndsCrashed_PoolKeepsServing) {
  if constexpr (!TestFixture::is_process) {
    GTEST_SKIP() << "thread mode: a worker is a thread of this process; killing it kills the "
                    "test (crash isolation exists only in process mode)";
  } else {
    auto& report = this->new_fifo("pid");
    procpool::pool pool(TestFixture::opts(1));
    const task_handle victim = pool.submit("victim", "report_pid_and_hang", report.path);
    const std::optional<std::string> line = procpool_test::read_line(report.fd, 10s);
    ASSERT_TRUE(line.has_value()) << "the task never reported its pid; state "
                                  << procpool::to_string(victim.state());
    const int worker = std::stoi(*line);
    ASSERT_GT(worker, 1);
    ASSERT_NE(worker, static_cast<int>(::getpid()));
    EXPECT_EQ(victim.state(), task_state::running);

    ASSERT_EQ(::kill(worker, SIGKILL), 0);
    ASSERT_TRUE(ends_in(victim, task_state::crashed, 10s));
    const procpool::result r = victim.result();
    ASSERT_TRUE(r.signal.has_value()) << "crashed without a signal";
    EXPECT_EQ(*r.signal, SIGKILL);
    EXPECT_EQ(r.worker_pid, worker);
    try {
      (void)victim.get();
      ADD_FAILURE() << "get() of a crashed task did not throw";
    } catch (const procpool::task_error& e) {
      EXPECT_EQ(e.state(), task_state::crashed);
      EXPECT_EQ(e.code_value(), errc::worker_crashed);
    }

    // I2: the pool keeps serving.
    EXPECT_TRUE(ends_done(pool.submit("canary", "square", 6), 36));
    pool.close();
    pool.join();
    const procpool::pool_stats s = pool.stats();
    EXPECT_EQ(s.crashed, 1U);
    EXPECT_GE(s.worker_deaths, 1U);
    EXPECT_GE(s.workers_started, 2U);
  }
}

// ===========================================================================
// Time limits and retries
// ===========================================================================

TYPED_TEST(PoolTypedTest, Timeout_TaskPastItsLimit_EndsTimedOutAndPoolKeepsServing) {
  procpool::pool pool(TestFixture::opts(1));
  const task_handle slow = pool.submit("slow", "hang_until_stopped", nullptr,
                                       procpool::task_options{.timeout = scaled(200ms)});
  ASSERT_TRUE(ends_in(slow, task_state::timed_out, 15s));
  try {
    (void)slow.get();
    ADD_FAILURE() << "get() of a timed-out task did not throw";
  } catch (const procpool::task_error& e) {
    EXPECT_EQ(e.state(), task_state::timed_out);
    EXPECT_EQ(e.code_value(), errc::task_timeout);
  }
  EXPECT_TRUE(ends_done(pool.submit("canary", "square", 7), 49));
  pool.close();
  pool.join();
  EXPECT_EQ(pool.stats().timed_out, 1U);
}

TYPED_TEST(PoolTypedTest, Timeout_PoolDefault_AppliesToEveryTask) {
  procpool::pool pool(TestFixture::opts(1).with_task_timeout(scaled(200ms)));
  const task_handle slow = pool.submit("slow", "hang_until_stopped");
  EXPECT_TRUE(ends_in(slow, task_state::timed_out, 15s));
  EXPECT_TRUE(ends_done(pool.submit("quick", "square", 3), 9));
  // A per-task 0 lifts the pool's limit.
  const auto past_limit = static_cast<int>(scaled(400ms).count());
  EXPECT_TRUE(ends_done(pool.submit("unlimited", "sleep_ms", past_limit,
                                    procpool::task_options{.timeout = 0ms}),
                        past_limit));
  pool.close();
  pool.join();
}

TYPED_TEST(PoolTypedTest, Retries_FailingAttempts_RetriedUntilDone) {
  procpool::pool pool(TestFixture::opts(1));
  const task_handle h = pool.submit("flaky", "fail_before_attempt", 3,
                                    procpool::task_options{.retries = 2});
  ASSERT_TRUE(ends_done(h, 3));
  EXPECT_EQ(h.result().attempts, 3);
  pool.close();
  pool.join();
}

TYPED_TEST(PoolTypedTest, Retries_Exhausted_EndsFailedWithAttemptCount) {
  procpool::pool pool(TestFixture::opts(1).with_retries(1));
  const task_handle h = pool.submit("bad", "throw_runtime", "always");
  ASSERT_TRUE(ends_in(h, task_state::failed));
  EXPECT_EQ(h.result().attempts, 2);
  EXPECT_EQ(h.result().error_message, "always");
  // Per-task retries override the pool's.
  const task_handle once = pool.submit("once", "throw_runtime", "x",
                                       procpool::task_options{.retries = 0});
  ASSERT_TRUE(ends_in(once, task_state::failed));
  EXPECT_EQ(once.result().attempts, 1);
  pool.close();
  pool.join();
}

// ===========================================================================
// Results, context, stats
// ===========================================================================

TYPED_TEST(PoolTypedTest, Results_ReturnsEveryTag) {
  procpool::pool pool(TestFixture::opts(2));
  for (int i = 0; i < 8; ++i) (void)pool.submit("ok" + std::to_string(i), "square", i);
  for (int i = 0; i < 2; ++i) (void)pool.submit("bad" + std::to_string(i), "throw_runtime", "x");
  const auto all = pool.results();
  ASSERT_EQ(all.size(), 10U);
  for (int i = 0; i < 8; ++i) {
    const auto& r = all.at("ok" + std::to_string(i));
    EXPECT_EQ(r.state, task_state::done);
    EXPECT_EQ(r.value, i * i);
  }
  EXPECT_EQ(all.at("bad0").state, task_state::failed);
  EXPECT_EQ(all.at("bad1").state, task_state::failed);
  // Entries stay until taken.
  EXPECT_EQ(pool.results().size(), 10U);
  (void)pool.take("ok0");
  EXPECT_EQ(pool.results().size(), 9U);
  pool.close();
  pool.join();
}

TYPED_TEST(PoolTypedTest, Take_RemovesTag) {
  procpool::pool pool(TestFixture::opts(1));
  const task_handle h = pool.submit("x", "square", 9);
  const procpool::result r = pool.take("x");
  EXPECT_EQ(r.tag, "x");
  EXPECT_EQ(r.state, task_state::done);
  EXPECT_EQ(r.value, 81);
  expect_errc([&] { (void)pool.result("x"); }, errc::unknown_tag);
  expect_errc([&] { (void)pool.take("x"); }, errc::unknown_tag);
  expect_errc([&] { (void)pool.result("never-submitted"); }, errc::unknown_tag);
  EXPECT_TRUE(pool.results().empty());
  EXPECT_TRUE(ends_done(h, 81)) << "the handle outlives the map entry";
  pool.close();
  pool.join();
}

TYPED_TEST(PoolTypedTest, ToString_GivesLowerCaseNames) {
  EXPECT_EQ(procpool::to_string(task_state::queued), "queued");
  EXPECT_EQ(procpool::to_string(task_state::running), "running");
  EXPECT_EQ(procpool::to_string(task_state::done), "done");
  EXPECT_EQ(procpool::to_string(task_state::failed), "failed");
  EXPECT_EQ(procpool::to_string(task_state::timed_out), "timed_out");
  EXPECT_EQ(procpool::to_string(task_state::crashed), "crashed");
  EXPECT_EQ(procpool::to_string(task_state::cancelled), "cancelled");
  // And the pool reports states by those names.
  procpool::pool pool(TestFixture::opts(1));
  const task_handle h = pool.submit("t", "square", 1);
  ASSERT_TRUE(ends_done(h, 1));
  EXPECT_EQ(procpool::to_string(h.state()), "done");
  pool.close();
  pool.join();
}

TYPED_TEST(PoolTypedTest, Context_SeesTagTaskAndAttempt) {
  procpool::pool pool(TestFixture::opts(2));
  const task_handle h = pool.submit("ctx-tag", "ctx_info");
  ASSERT_TRUE(ends_in(h, task_state::done));
  const json info = h.get();
  EXPECT_EQ(info.at("tag"), "ctx-tag");
  EXPECT_EQ(info.at("task"), "ctx_info");
  EXPECT_EQ(info.at("attempt"), 1);
  EXPECT_GE(info.at("worker_index").get<int>(), 0);
  EXPECT_LT(info.at("worker_index").get<int>(), 2);
  pool.close();
  pool.join();
}

TYPED_TEST(PoolTypedTest, Result_RecordsWorkerPidAttemptsAndTimes) {
  procpool::pool pool(TestFixture::opts(1));
  const auto before = std::chrono::system_clock::now();
  const task_handle h = pool.submit("t", "pid");
  ASSERT_TRUE(ends_in(h, task_state::done));
  const procpool::result r = h.result();
  const int task_pid = r.value.get<int>();
  EXPECT_EQ(r.worker_pid, task_pid);
  if constexpr (TestFixture::is_process) {
    EXPECT_NE(task_pid, static_cast<int>(::getpid())) << "process mode ran the task in the pool";
  } else {
    EXPECT_EQ(task_pid, static_cast<int>(::getpid()));
  }
  EXPECT_EQ(r.attempts, 1);
  EXPECT_GE(r.started_at, before - 1s);
  EXPECT_LE(r.started_at, r.finished_at);
  EXPECT_LE(r.finished_at, std::chrono::system_clock::now() + 1s);
  EXPECT_FALSE(r.exit_code.has_value());
  EXPECT_FALSE(r.signal.has_value());
  pool.close();
  pool.join();
}

TYPED_TEST(PoolTypedTest, Stats_AfterJoin_AccountForEveryTask) {
  procpool::pool pool(TestFixture::opts(2));
  for (int i = 0; i < 15; ++i) (void)pool.submit("ok" + std::to_string(i), "square", i);
  for (int i = 0; i < 5; ++i) (void)pool.submit("bad" + std::to_string(i), "throw_logic", "x");
  pool.close();
  pool.join();
  const procpool::pool_stats s = pool.stats();
  EXPECT_EQ(s.submitted, 20U);
  EXPECT_EQ(s.done, 15U);
  EXPECT_EQ(s.failed, 5U);
  EXPECT_EQ(s.queued, 0U);
  EXPECT_EQ(s.running, 0U);
  EXPECT_EQ(s.crashed + s.timed_out + s.cancelled, 0U);
  EXPECT_EQ(s.workers_alive, 0U);
  EXPECT_EQ(s.workers_idle, 0U);
  EXPECT_EQ(s.worker_deaths, 0U);
  EXPECT_EQ(s.worker_exits, s.workers_started);
  EXPECT_EQ(pool.config().workers, 2);
  EXPECT_EQ(pool.config().mode, TestFixture::mode);
}

}  // namespace
