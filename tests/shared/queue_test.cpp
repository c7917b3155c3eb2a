// shared_queue in both modes (QueueTypedTest/0 threads, /1 forked children),
// plus process-only crash cases (QueueProcessTest).
#include "shared_state_test_util.hpp"

#include <iostream>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using procpool::errc;
using procpool::shared_queue;
using procpool::detail::queue_header;
using procpool::detail::shared_kind;
using procpool::detail::shared_state_arena;
using procpool_test::died_status;
using procpool_test::expect_errc;
using procpool_test::gate;
using procpool_test::scaled;
using procpool_test::wait_nonzero;

queue_header* header_of(shared_state_arena& arena, const char* name) {
  return static_cast<queue_header*>(arena.find(name, shared_kind::queue).storage);
}

template <class Mode>
class QueueTypedTest : public procpool_test::shared_state_fixture<Mode> {};
using modes = ::testing::Types<procpool_test::thread_mode, procpool_test::process_mode>;
TYPED_TEST_SUITE(QueueTypedTest, modes);

TYPED_TEST(QueueTypedTest, PutGet_FifoAndSizes) {
  shared_queue q = shared_queue::create(this->arena, "q");
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(q.full());  // maxsize 0: never full
  q.put("a");
  q.put(json{{"b", 2}});
  q.put_nowait(3);
  q.put(nullptr);
  EXPECT_EQ(q.qsize(), 4U);
  EXPECT_EQ(q.get(), json("a"));
  EXPECT_EQ(q.get_nowait(), (json{{"b", 2}}));
  EXPECT_EQ(q.get(true, 1s), json(3));
  EXPECT_EQ(q.try_get(), std::optional<json>(json(nullptr)));
  EXPECT_FALSE(q.try_get().has_value());
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.maxsize(), 0);
  EXPECT_EQ(q.storage_bytes(), shared_queue::default_storage_bytes);
}

TYPED_TEST(QueueTypedTest, EmptyQueue_GetNowaitAndTimedGet_AreTimeoutQueueEmpty) {
  shared_queue q = shared_queue::create(this->arena, "q");
  std::string what = expect_errc([&] { (void)q.get_nowait(); }, errc::timeout);
  EXPECT_NE(what.find("queue 'q' empty"), std::string::npos) << what;
  expect_errc([&] { (void)q.get(false); }, errc::timeout);
  const auto t0 = std::chrono::steady_clock::now();
  what = expect_errc([&] { (void)q.get(true, 50ms); }, errc::timeout);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 45ms);
  EXPECT_NE(what.find("empty"), std::string::npos) << what;
  EXPECT_FALSE(q.try_get(20ms).has_value());
}

TYPED_TEST(QueueTypedTest, Maxsize_FullPutNowaitAndTimedPut_AreFull) {
  shared_queue q = shared_queue::create(this->arena, "q", 2);
  q.put(1);
  q.put(2);
  EXPECT_TRUE(q.full());
  std::string what = expect_errc([&] { q.put_nowait(3); }, errc::full);
  EXPECT_NE(what.find("queue 'q' is full (maxsize 2)"), std::string::npos) << what;
  expect_errc([&] { q.put(3, false); }, errc::full);
  const auto t0 = std::chrono::steady_clock::now();
  expect_errc([&] { q.put(3, true, 50ms); }, errc::full);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 45ms);
  EXPECT_FALSE(q.try_put(3));
  EXPECT_EQ(q.get(), json(1));
  EXPECT_FALSE(q.full());
  EXPECT_TRUE(q.try_put(3));
  EXPECT_EQ(q.get(), json(2));
  EXPECT_EQ(q.get(), json(3));
}

TYPED_TEST(QueueTypedTest, StorageBytes_BoundTheQueue_AndTooLargeIsRefused) {
  shared_queue q = shared_queue::create(this->arena, "q", 0, 256);
  // Each 20-char string: 2 + 20 encoded bytes + 8 header, rounded to 32.
  const std::string item(20, 's');
  for (int i = 0; i < 8; ++i) q.put_nowait(item);
  const std::string what = expect_errc([&] { q.put_nowait(item); }, errc::full);
  EXPECT_NE(what.find("256 bytes of storage"), std::string::npos) << what;
  EXPECT_FALSE(q.full());  // full() is about maxsize only, as in Python
  expect_errc([&] { q.put(std::string(300, 'x')); }, errc::too_large);
  while (q.try_get()) {
  }
  // The largest item fits into an empty queue whatever the ring position.
  q.put(std::string(240, 'b'));  // 3 + 240 + 8 -> 256 bytes
  EXPECT_EQ(q.get().get<std::string>().size(), 240U);
}

TYPED_TEST(QueueTypedTest, WrapsAroundWithMixedSizes) {
  shared_queue q = shared_queue::create(this->arena, "q", 0, 1024);
  std::mt19937 rng(7);
  std::deque<json> expect;
  for (int i = 0; i < 5000; ++i) {
    if (expect.size() < 3 || (rng() % 2 == 0 && expect.size() < 20)) {
      json item{{"i", i}, {"pad", std::string(rng() % 100, 'p')}};
      if (q.try_put(item)) expect.push_back(item);
    } else {
      ASSERT_EQ(q.get_nowait(), expect.front()) << "at " << i;
      expect.pop_front();
    }
    ASSERT_EQ(q.qsize(), expect.size());
  }
}

TYPED_TEST(QueueTypedTest, BlockingGet_WokenByAPutFromAnotherWorker) {
  shared_queue q = shared_queue::create(this->arena, "q");
  queue_header* h = header_of(this->arena, "q");
  auto w = this->spawn([&] {
    auto mine = shared_queue::open(this->arena, "q");
    // Only once the supervisor sleeps in get().
    PP_WCHECK(wait_nonzero(h->not_empty.sleepers));
    mine.put("wake up");
    return 0;
  });
  EXPECT_EQ(q.get(true, scaled(10s)), json("wake up"));
  EXPECT_EQ(w->wait(), 0);
}

TYPED_TEST(QueueTypedTest, BlockingPut_WokenByAGetFromAnotherWorker) {
  shared_queue q = shared_queue::create(this->arena, "q", 1);
  queue_header* h = header_of(this->arena, "q");
  q.put("first");
  auto w = this->spawn([&] {
    auto mine = shared_queue::open(this->arena, "q");
    PP_WCHECK(wait_nonzero(h->not_full.sleepers));
    PP_WCHECK(mine.get() == json("first"));
    return 0;
  });
  q.put("second", true, scaled(10s));
  EXPECT_EQ(w->wait(), 0);
  EXPECT_EQ(q.get_nowait(), json("second"));
}

TYPED_TEST(QueueTypedTest, TaskDoneAndJoin_CountEveryItem) {
  shared_queue q = shared_queue::create(this->arena, "q");
  queue_header* h = header_of(this->arena, "q");
  EXPECT_TRUE(q.join(0ms));  // nothing put: nothing unfinished
  const std::string what = expect_errc([&] { q.task_done(); }, errc::invalid_argument);
  EXPECT_NE(what.find("more times than items were put"), std::string::npos) << what;
  for (int i = 0; i < 3; ++i) q.put(i);
  EXPECT_EQ(q.unfinished_tasks(), 3U);
  EXPECT_FALSE(q.join(30ms));
  auto w = this->spawn([&] {
    auto mine = shared_queue::open(this->arena, "q");
    for (int i = 0; i < 3; ++i) {
      PP_WCHECK(mine.get() == json(i));
      if (i == 2) PP_WCHECK(wait_nonzero(h->all_done.sleepers));  // join() is waiting
      mine.task_done();
    }
    return 0;
  });
  EXPECT_TRUE(q.join(scaled(10s)));
  EXPECT_EQ(w->wait(), 0);
  EXPECT_EQ(q.unfinished_tasks(), 0U);
  expect_errc([&] { q.task_done(); }, errc::invalid_argument);
}

TYPED_TEST(QueueTypedTest, Clear_DropsItemsAndCountsThemDone) {
  shared_queue q = shared_queue::create(this->arena, "q", 3);
  EXPECT_EQ(q.clear(), 0U);
  for (int i = 0; i < 3; ++i) q.put(i);
  EXPECT_EQ(q.get(), json(0));
  q.task_done();
  EXPECT_EQ(q.clear(), 2U);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.unfinished_tasks(), 0U);
  EXPECT_TRUE(q.join(0ms));
  // task_done() before get() (allowed, as in Python), then clear: not counted twice.
  q.put("x");
  q.task_done();
  EXPECT_EQ(q.clear(), 1U);
  EXPECT_EQ(q.unfinished_tasks(), 0U);
  q.put("after");
  EXPECT_EQ(q.get(), json("after"));
}

// Producers and consumers in every worker: every item arrives exactly once.
TYPED_TEST(QueueTypedTest, ProducersAndConsumers_EveryItemOnce) {
  shared_queue q = shared_queue::create(this->arena, "q", 8, 4096);
  auto sums = procpool::shared_array<std::int64_t>::create(this->arena, "sums", 2);
  constexpr int producers = 2;
  constexpr int consumers = 2;
  constexpr int per_producer = 2000;
  std::vector<std::unique_ptr<procpool_test::worker>> ws;
  for (int p = 0; p < producers; ++p) {
    ws.push_back(this->spawn([&, p] {
      auto mine = shared_queue::open(this->arena, "q");
      for (int i = 1; i <= per_producer; ++i) mine.put(json{{"p", p}, {"i", i}}, true, scaled(20s));
      return 0;
    }));
  }
  for (int c = 0; c < consumers; ++c) {
    ws.push_back(this->spawn([&] {
      auto mine = shared_queue::open(this->arena, "q");
      auto s = procpool::shared_array<std::int64_t>::open(this->arena, "sums");
      for (;;) {
        const json item = mine.get(true, scaled(20s));
        if (item.is_null()) {  // the sentinel
          mine.task_done();
          return 0;
        }
        s.fetch_add(0, item.at("i").get<std::int64_t>());
        s.fetch_add(1, 1);
        mine.task_done();
      }
    }));
  }
  for (int p = 0; p < producers; ++p) EXPECT_EQ(ws[static_cast<std::size_t>(p)]->wait(), 0);
  EXPECT_TRUE(q.join(scaled(20s)));
  for (int c = 0; c < consumers; ++c) q.put(nullptr);
  for (auto& w : ws) EXPECT_EQ(w->wait(), 0);
  EXPECT_EQ(sums[1], producers * per_producer);
  EXPECT_EQ(sums[0], producers * (per_producer * (per_producer + 1) / 2));
  EXPECT_TRUE(q.join(0ms));
}

// A worker dies holding the queue's internal lock, half-way through a commit
// (the journal is valid, the control words not yet stored). The next caller
// finishes the commit: the item is there exactly once.
TYPED_TEST(QueueTypedTest, InternalLockHolderDiesMidCommit_NextCallFinishesIt) {
  shared_queue q = shared_queue::create(this->arena, "q", 0, 1024);
  q.put("a");
  queue_header* h = header_of(this->arena, "q");
  auto w = this->spawn([&] {
    (void)h->mutex.acquire(std::nullopt, "queue", "q");
    // What put("b") does up to the middle of its commit.
    const std::vector<std::uint8_t> enc = json::to_msgpack(json("b"));
    const procpool::detail::queue_record rec{16, static_cast<std::uint32_t>(enc.size())};
    std::uint8_t* ring = reinterpret_cast<std::uint8_t*>(h) + h->ring_offset;
    std::memcpy(ring + h->words.tail % h->capacity, &rec, sizeof rec);
    std::memcpy(ring + h->words.tail % h->capacity + sizeof rec, enc.data(), enc.size());
    h->journal = h->words;
    h->journal.tail += 16;
    h->journal.count += 1;
    h->journal.put_seq += 1;
    h->journal_valid.store(1);
    h->words.tail += 16;  // one word stored, the others not
    return this->die();
  });
  EXPECT_EQ(w->wait(), died_status);
  EXPECT_EQ(q.qsize(), 2U);  // repaired here
  EXPECT_EQ(h->repairs, 1U);
  EXPECT_EQ(q.unfinished_tasks(), 2U);
  EXPECT_EQ(q.get_nowait(), json("a"));
  EXPECT_EQ(q.get_nowait(), json("b"));
  expect_errc([&] { (void)q.get_nowait(); }, errc::timeout);
}

TYPED_TEST(QueueTypedTest, InternalLockHolderDiesAfterCorruptingTheRing_IsPoisoned) {
  shared_queue q = shared_queue::create(this->arena, "q", 0, 1024);
  q.put("a");
  queue_header* h = header_of(this->arena, "q");
  auto w = this->spawn([&] {
    (void)h->mutex.acquire(std::nullopt, "queue", "q");
    std::uint8_t* ring = reinterpret_cast<std::uint8_t*>(h) + h->ring_offset;
    const std::uint32_t bad = 13;  // not a record length
    std::memcpy(ring + h->words.head % h->capacity, &bad, sizeof bad);
    return this->die();
  });
  EXPECT_EQ(w->wait(), died_status);
  const std::string what = expect_errc([&] { (void)q.qsize(); }, errc::segment_poisoned);
  EXPECT_NE(what.find("queue 'q'"), std::string::npos) << what;
  expect_errc([&] { q.put(1); }, errc::segment_poisoned);
}

// ---------------------------------------------------------------------------
// Process-only crash cases.

class QueueFaultPointTest : public ::testing::TestWithParam<const char*> {};

// Death at a fault point inside put(): before the commit the item is absent,
// in the middle of it the item is there (the journal is re-applied).
// Needs PROCPOOL_FAULT_INJECTION and a fresh process (ctest runs each case alone).
TEST_P(QueueFaultPointTest, KilledInsidePut_ItemAbsentOrWhole) {
  const std::string point = GetParam();
  shared_state_arena arena(true, 4U << 20U);
  auto q = shared_queue::create(arena, "q", 4, 1024);
  procpool_test::temp_dir dir;
  const std::string marker = dir.path() + "/fired";
  procpool_test::scope_exit cleanup([&] { ::unlink(marker.c_str()); });
  procpool_test::worker w(true, [&] {
    ::setenv("PROCPOOL_FAULT_INJECT", (std::string(point).append(":").append(marker)).c_str(), 1);
    q.put("item");
    return 0;
  });
  const int st = w.wait();
  if (st == 0) GTEST_SKIP() << "fault point not armed (no PROCPOOL_FAULT_INJECTION, or run with other cases)";
  ASSERT_EQ(st, died_status);
  const bool committed = point == "queue_mid_commit";
  EXPECT_EQ(q.qsize(), committed ? 1U : 0U);
  EXPECT_EQ(header_of(arena, "q")->repairs, 1U);
  EXPECT_EQ(q.unfinished_tasks(), committed ? 1U : 0U);
  if (committed) {
    EXPECT_EQ(q.get_nowait(), json("item"));
  }
  for (int i = 0; i < 4; ++i) q.put_nowait(i);  // the whole maxsize is usable
  expect_errc([&] { q.put_nowait(5); }, errc::full);
}

INSTANTIATE_TEST_SUITE_P(Points, QueueFaultPointTest,
                         ::testing::Values("queue_before_commit", "queue_mid_commit"));

// Death in the middle of the journaled commit of get(), task_done() and clear():
// the next caller re-applies the journal, so the call took effect exactly once.
class QueueCommitFaultPointTest : public ::testing::TestWithParam<const char*> {};

TEST_P(QueueCommitFaultPointTest, KilledMidCommit_CallTookEffectOnce) {
  const std::string call = GetParam();
  shared_state_arena arena(true, 4U << 20U);
  auto q = shared_queue::create(arena, "q", 4, 1024);
  // Filled by a child: put() passes the fault points, and the first one reached
  // reads the fault configuration for good, before the next child could arm it.
  procpool_test::worker filler(true, [&] {
    for (const char* item : {"a", "b", "c"}) q.put(item);
    return 0;
  });
  ASSERT_EQ(filler.wait(), 0);
  procpool_test::temp_dir dir;
  const std::string marker = dir.path() + "/fired";
  procpool_test::scope_exit cleanup([&] { ::unlink(marker.c_str()); });
  procpool_test::worker w(true, [&] {
    ::setenv("PROCPOOL_FAULT_INJECT", ("queue_mid_commit:" + marker).c_str(), 1);
    if (call == "get") (void)q.get_nowait();
    if (call == "task_done") q.task_done();
    if (call == "clear") (void)q.clear();
    return 0;
  });
  const int st = w.wait();
  if (st == 0) GTEST_SKIP() << "fault point not armed (no PROCPOOL_FAULT_INJECTION, or run with other cases)";
  ASSERT_EQ(st, died_status);
  std::vector<json> left;
  if (call != "clear") left = {"b", "c"};
  if (call == "task_done") left.insert(left.begin(), "a");
  EXPECT_EQ(q.qsize(), left.size());  // repairs
  EXPECT_EQ(header_of(arena, "q")->repairs, 1U);
  EXPECT_EQ(q.unfinished_tasks(), call == "get" ? 3U : call == "task_done" ? 2U : 0U);
  for (const json& item : left) EXPECT_EQ(q.get_nowait(), item);
  for (int i = 0; i < 4; ++i) q.put_nowait(i);  // the whole maxsize is usable
  expect_errc([&] { q.put_nowait(5); }, errc::full);
}

INSTANTIATE_TEST_SUITE_P(Calls, QueueCommitFaultPointTest,
                         ::testing::Values("get", "task_done", "clear"));

// A process killed after its change is published but before it woke the
// sleepers (reproduced by hiding the sleeper count from the notifier, so it
// skips the wake-up) must not leave a blocked get(), put() or join() asleep
// for good: the sleeper looks again on its own.
class QueueWakeProcessTest : public ::testing::TestWithParam<const char*> {};

TEST_P(QueueWakeProcessTest, NotifierKilledBeforeWaking_SleeperStillReturns) {
  const std::string call = GetParam();
  shared_state_arena arena(true, 4U << 20U);
  auto q = shared_queue::create(arena, "q", 1, 1024);
  queue_header* h = header_of(arena, "q");
  if (call != "get") q.put("x");  // put() finds the queue full; join() an unfinished item
  procpool::detail::wait_word& word =
      call == "get" ? h->not_empty : call == "put" ? h->not_full : h->all_done;
  gate returned;
  procpool_test::worker w(true, [&] {
    if (call == "get") {
      PP_WCHECK(q.get() == json("x"));
    } else if (call == "put") {
      q.put("y");
    } else {
      PP_WCHECK(q.join());
    }
    returned.open();
    return 0;
  });
  ASSERT_TRUE(wait_nonzero(word.sleepers));  // the child sleeps in the call
  const std::uint32_t hidden = word.sleepers.exchange(0);
  if (call == "get") {
    q.put("x");
  } else {
    EXPECT_EQ(q.get_nowait(), json("x"));
  }
  if (call == "join") q.task_done();
  word.sleepers.fetch_add(hidden);
  const bool woke = returned.wait(5s);
  EXPECT_TRUE(woke) << call << "() still asleep after a missed wake-up";
  if (!woke) w.kill();
  EXPECT_EQ(w.wait(), woke ? 0 : died_status);
}

INSTANTIATE_TEST_SUITE_P(Calls, QueueWakeProcessTest, ::testing::Values("get", "put", "join"));

// SIGKILL at random moments of a busy put/get loop, 20 times: afterwards the
// queue holds whole items in order and its bounds are fully usable.
TEST(QueueProcessTest, KilledAtRandomMoments_StaysConsistent) {
  shared_state_arena arena(true, 4U << 20U);
  auto q = shared_queue::create(arena, "q", 0, 2048);
  auto progress = procpool::shared_array<std::uint64_t>::create(arena, "progress", 1);
  std::mt19937 rng(99);
  int repaired = 0;
  constexpr int trials = 20;
  for (int trial = 0; trial < trials; ++trial) {
    (void)q.clear();
    progress.store(0, 0);
    procpool_test::worker w(true, [&] {
      for (std::uint64_t i = 0;; ++i) {
        if (!q.try_put(json{{"i", i}, {"pad", std::string(i % 150, 'q')}})) {
          (void)q.try_get();
        }
        if (i % 3 == 0) (void)q.try_get();
        progress.fetch_add(0, 1);
      }
      return 0;
    });
    const std::uint64_t target = std::uniform_int_distribution<std::uint64_t>(20, 3000)(rng);
    ASSERT_TRUE(procpool_test::wait_until([&] { return progress.load(0) >= target; }, 10s));
    w.kill();
    EXPECT_EQ(w.wait(), died_status);
    const std::uint64_t before = header_of(arena, "q")->repairs;
    const std::size_t n = q.qsize();
    if (header_of(arena, "q")->repairs != before) ++repaired;
    std::int64_t last = -1;
    for (std::size_t k = 0; k < n; ++k) {
      const json item = q.get_nowait();
      const auto i = item.at("i").get<std::int64_t>();
      EXPECT_GT(i, last);  // FIFO order kept
      last = i;
      EXPECT_EQ(item.at("pad").get<std::string>().size(), static_cast<std::size_t>(i % 150));
    }
    EXPECT_TRUE(q.empty());
    // The whole storage is usable again: 2048 bytes of 32-byte records.
    int fitted = 0;
    while (q.try_put(std::string(20, 'f'))) ++fitted;
    EXPECT_EQ(fitted, 64) << "trial " << trial;
  }
  std::cout << "[ observation ] " << repaired << " of " << trials
            << " kills landed inside a queue call (repaired)\n";
}

}  // namespace
