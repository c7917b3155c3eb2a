// The arena directory, lock, rlock and event, in both modes.
//
// SyncTypedTest/0 is thread mode (std::thread workers on a private arena),
// SyncTypedTest/1 process mode (fork()ed children on a memfd arena).
#include "shared_state_test_util.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using procpool::errc;
using procpool::detail::shared_kind;
using procpool::detail::shared_state_arena;
using procpool_test::died_status;
using procpool_test::expect_errc;
using procpool_test::gate;
using procpool_test::scaled;

// ---------------------------------------------------------------------------
// The arena directory (no workers needed).

TEST(SharedStateArenaTest, CreateThenOpen_FindsTheSameObject) {
  shared_state_arena arena(false, 4U << 20U);
  auto l = procpool::lock::create(arena, "l");
  auto again = procpool::lock::open(arena, "l");
  EXPECT_EQ(again.name(), "l");
  ASSERT_TRUE(l.acquire().acquired);
  EXPECT_TRUE(again.held_by_me());  // same lock
  l.release();
  const auto all = arena.list();
  ASSERT_EQ(all.size(), 1U);
  EXPECT_EQ(all[0].first, "l");
  EXPECT_EQ(all[0].second, shared_kind::lock);
}

TEST(SharedStateArenaTest, DuplicateName_IsRefused) {
  shared_state_arena arena(false, 4U << 20U);
  (void)procpool::event::create(arena, "x");
  const std::string what =
      expect_errc([&] { (void)procpool::shared_dict::create(arena, "x", 4); }, errc::invalid_argument);
  EXPECT_NE(what.find("shared object 'x' exists"), std::string::npos) << what;
}

TEST(SharedStateArenaTest, UnknownName_IsRefused) {
  shared_state_arena arena(false, 4U << 20U);
  const std::string what =
      expect_errc([&] { (void)procpool::shared_queue::open(arena, "nope"); }, errc::invalid_argument);
  EXPECT_NE(what.find("no shared object named 'nope'"), std::string::npos) << what;
}

TEST(SharedStateArenaTest, WrongKind_IsRefused) {
  shared_state_arena arena(false, 4U << 20U);
  (void)procpool::shared_dict::create(arena, "d", 4);
  const std::string what =
      expect_errc([&] { (void)procpool::shared_queue::open(arena, "d"); }, errc::invalid_argument);
  EXPECT_NE(what.find("is a dict, not a queue"), std::string::npos) << what;
  expect_errc([&] { (void)procpool::rlock::open(arena, "d"); }, errc::invalid_argument);
}

TEST(SharedStateArenaTest, BadNames_AreRefused) {
  shared_state_arena arena(false, 4U << 20U);
  expect_errc([&] { (void)procpool::lock::create(arena, ""); }, errc::invalid_argument);
  expect_errc([&] { (void)procpool::lock::create(arena, std::string(64, 'n')); },
              errc::invalid_argument);
  (void)procpool::lock::create(arena, std::string(63, 'n'));  // the longest name
}

TEST(SharedStateArenaTest, OutOfSpace_IsFullWithTheSizes) {
  shared_state_arena arena(false, 4U << 20U);
  const std::string what = expect_errc(
      [&] { (void)procpool::shared_array<int>::create(arena, "big", std::size_t{8} << 20U); },
      errc::full);
  EXPECT_NE(what.find("bytes free"), std::string::npos) << what;
  EXPECT_NE(what.find("shared_state_bytes"), std::string::npos) << what;
  // Nothing was published, and the space is still there for a smaller one.
  expect_errc([&] { (void)procpool::shared_array<int>::open(arena, "big"); },
              errc::invalid_argument);
  auto a = procpool::shared_array<int>::create(arena, "big", 1000);
  EXPECT_EQ(a.size(), 1000U);
}

TEST(SharedStateArenaTest, DirectoryFull_IsFull) {
  shared_state_arena arena(false, 4U << 20U);
  for (std::size_t i = 0; i < shared_state_arena::max_objects; ++i) {
    (void)procpool::event::create(arena, procpool_test::key("e", i));
  }
  const std::string what =
      expect_errc([&] { (void)procpool::event::create(arena, "one-more"); }, errc::full);
  EXPECT_NE(what.find("256 objects"), std::string::npos) << what;
}

TEST(SharedStateArenaTest, TooSmallArena_IsInvalidArgument) {
  expect_errc([] { shared_state_arena a(false, 4096); }, errc::invalid_argument);
}

TEST(SharedStateArenaProcessTest, CreateFromAWorker_IsRefused) {
  shared_state_arena arena(true, 4U << 20U);
  procpool_test::worker w(true, [&] {
    try {
      (void)procpool::lock::create(arena, "from-worker");
    } catch (const procpool::error& e) {
      PP_WCHECK(e.code_value() == errc::invalid_argument);
      PP_WCHECK(std::string(e.what()).find("only the supervisor") != std::string::npos);
      return 0;
    }
    return 1;
  });
  EXPECT_EQ(w.wait(), 0);
}

TEST(SharedStateArenaProcessTest, ObjectCreatedAfterFork_IsVisibleToTheChild) {
  shared_state_arena arena(true, 4U << 20U);
  gate created;
  procpool_test::worker w(true, [&] {
    PP_WCHECK(created.wait());
    auto d = procpool::shared_dict::open(arena, "late");
    PP_WCHECK(d.get("k", 0).get<int>() == 42);
    return 0;
  });
  auto d = procpool::shared_dict::create(arena, "late", 4);
  d.set("k", 42);
  created.open();
  EXPECT_EQ(w.wait(), 0);
}

// A spawned (exec'd) worker attaches to the arena's memfd: its mapping lands at
// another address. Simulated by a forked child mapping the descriptor afresh.
TEST(SharedStateArenaProcessTest, AttachedAtAnotherAddress_SeesAndChangesTheSameObjects) {
  shared_state_arena arena(true, 4U << 20U);
  auto d = procpool::shared_dict::create(arena, "d", 8);
  auto q = procpool::shared_queue::create(arena, "q", 4);
  auto a = procpool::shared_array<int>::create(arena, "a", {0, 0});
  auto l = procpool::lock::create(arena, "l");
  d.set("from", "supervisor");
  procpool_test::worker w(true, [&] {
    shared_state_arena mine(shared_state_arena::attach_tag{}, arena.fd());
    PP_WCHECK(mine.base() != arena.base());
    auto md = procpool::shared_dict::open(mine, "d");
    PP_WCHECK(md.get("from", 0) == "supervisor");
    md.set("to", "worker");
    procpool::shared_queue::open(mine, "q").put(7);
    auto ma = procpool::shared_array<int>::open(mine, "a");
    PP_WCHECK(&ma[0] != &a[0]);
    ma.fetch_add(1, 5);
    try {
      (void)procpool::event::create(mine, "nope");
      return 1;
    } catch (const procpool::error& e) {
      PP_WCHECK(e.code_value() == errc::invalid_argument);
    }
    PP_WCHECK(procpool::lock::open(mine, "l").acquire().acquired);
    ::raise(SIGKILL);  // holding the lock, mapped at another address
    return 1;
  });
  EXPECT_EQ(w.wait(), died_status);
  EXPECT_EQ(d.get("to", 0), "worker");
  EXPECT_EQ(q.get_nowait(), 7);
  EXPECT_EQ(a[1], 5);
  const auto r = l.acquire();
  EXPECT_TRUE(r.acquired);
  EXPECT_TRUE(r.owner_died);
  l.release();
}

TEST(SharedStateArenaTest, AttachToSomethingElse_IsRefused) {
  procpool_test::temp_dir dir;
  const std::string path = dir.path() + "/not-an-arena";
  {
    procpool_test::unique_fd fd(::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600));
    ASSERT_TRUE(fd.valid());
    ASSERT_EQ(::ftruncate(fd.get(), 1 << 16), 0);
    expect_errc([&] { shared_state_arena a(shared_state_arena::attach_tag{}, fd.get()); },
                errc::payload_invalid);
  }
  ::unlink(path.c_str());
  expect_errc([] { shared_state_arena a(shared_state_arena::attach_tag{}, -1); }, errc::system);
}

// ---------------------------------------------------------------------------
// lock, rlock, event over both modes.

template <class Mode>
class SyncTypedTest : public procpool_test::shared_state_fixture<Mode> {};
using modes = ::testing::Types<procpool_test::thread_mode, procpool_test::process_mode>;
TYPED_TEST_SUITE(SyncTypedTest, modes);

TYPED_TEST(SyncTypedTest, Lock_AcquireRelease) {
  auto l = procpool::lock::create(this->arena, "l");
  const auto r = l.acquire();
  EXPECT_TRUE(r.acquired);
  EXPECT_FALSE(r.owner_died);
  EXPECT_TRUE(l.held_by_me());
  l.release();
  EXPECT_FALSE(l.held_by_me());
  {
    procpool::held_lock g = l.hold();
    EXPECT_TRUE(g.owns_lock());
    EXPECT_FALSE(g.owner_died());
  }
  EXPECT_TRUE(l.try_acquire().acquired);
  l.release();
}

TYPED_TEST(SyncTypedTest, Lock_ReacquireByOwner_IsAnErrorNotADeadlock) {
  auto l = procpool::lock::create(this->arena, "l");
  ASSERT_TRUE(l.acquire().acquired);
  const std::string what = expect_errc([&] { (void)l.acquire(); }, errc::invalid_argument);
  EXPECT_NE(what.find("already held"), std::string::npos) << what;
  l.release();
}

TYPED_TEST(SyncTypedTest, Lock_ReleaseWithoutHolding_IsInvalidArgument) {
  auto l = procpool::lock::create(this->arena, "l");
  expect_errc([&] { l.release(); }, errc::invalid_argument);
}

TYPED_TEST(SyncTypedTest, Lock_HeldByAnotherWorker_TryFailsTimedTimesOutReleaseRefused) {
  auto l = procpool::lock::create(this->arena, "l");
  gate held;
  gate let_go;
  auto w = this->spawn([&] {
    auto mine = procpool::lock::open(this->arena, "l");
    PP_WCHECK(mine.acquire().acquired);
    held.open();
    PP_WCHECK(let_go.wait());
    mine.release();
    return 0;
  });
  ASSERT_TRUE(held.wait());
  EXPECT_FALSE(l.try_acquire().acquired);
  EXPECT_FALSE(l.acquire(false).acquired);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(l.acquire(true, 50ms).acquired);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 45ms);
  // Not ours to release.
  expect_errc([&] { l.release(); }, errc::invalid_argument);
  let_go.open();
  // Now a blocking acquire gets it.
  const auto r = l.acquire(true, scaled(10s));
  EXPECT_TRUE(r.acquired);
  EXPECT_FALSE(r.owner_died);
  l.release();
  EXPECT_EQ(w->wait(), 0);
}

TYPED_TEST(SyncTypedTest, Lock_OwnerDies_NextAcquirerGetsItWithOwnerDied) {
  auto l = procpool::lock::create(this->arena, "l");
  auto w = this->spawn([&] {
    auto mine = procpool::lock::open(this->arena, "l");
    PP_WCHECK(mine.acquire().acquired);
    return this->die();
  });
  EXPECT_EQ(w->wait(), died_status);
  const auto r = l.acquire();
  EXPECT_TRUE(r.acquired);
  EXPECT_TRUE(r.owner_died);
  l.release();
  // Healthy again: no flag the second time, and it still excludes.
  const auto again = l.acquire();
  EXPECT_TRUE(again.acquired);
  EXPECT_FALSE(again.owner_died);
  l.release();
}

TYPED_TEST(SyncTypedTest, Lock_OwnerDies_HoldReportsOwnerDied) {
  auto l = procpool::lock::create(this->arena, "l");
  auto w = this->spawn([&] {
    auto mine = procpool::lock::open(this->arena, "l");
    PP_WCHECK(mine.acquire().acquired);
    return this->die();
  });
  EXPECT_EQ(w->wait(), died_status);
  procpool::held_lock g = l.hold();
  EXPECT_TRUE(g.owner_died());
}

TYPED_TEST(SyncTypedTest, RLock_Reentrant_FreeAfterAsManyReleases) {
  auto r = procpool::rlock::create(this->arena, "r");
  ASSERT_TRUE(r.acquire().acquired);
  ASSERT_TRUE(r.acquire().acquired);
  ASSERT_TRUE(r.try_acquire().acquired);
  r.release();
  r.release();
  EXPECT_TRUE(r.held_by_me());
  gate probed;
  gate let_go;
  // Another worker cannot take it while we hold one level.
  auto w = this->spawn([&] {
    auto theirs = procpool::rlock::open(this->arena, "r");
    PP_WCHECK(!theirs.try_acquire().acquired);
    probed.open();
    PP_WCHECK(let_go.wait());
    const auto got = theirs.acquire(true, scaled(10s));
    PP_WCHECK(got.acquired && !got.owner_died);
    theirs.release();
    return 0;
  });
  ASSERT_TRUE(probed.wait());
  r.release();
  EXPECT_FALSE(r.held_by_me());
  expect_errc([&] { r.release(); }, errc::invalid_argument);
  let_go.open();
  EXPECT_EQ(w->wait(), 0);
}

TYPED_TEST(SyncTypedTest, RLock_ReleaseByNonOwner_IsInvalidArgument) {
  auto r = procpool::rlock::create(this->arena, "r");
  gate held;
  gate let_go;
  auto w = this->spawn([&] {
    auto theirs = procpool::rlock::open(this->arena, "r");
    PP_WCHECK(theirs.acquire().acquired);
    held.open();
    PP_WCHECK(let_go.wait());
    theirs.release();
    return 0;
  });
  ASSERT_TRUE(held.wait());
  const std::string what = expect_errc([&] { r.release(); }, errc::invalid_argument);
  EXPECT_NE(what.find("does not hold it"), std::string::npos) << what;
  let_go.open();
  EXPECT_EQ(w->wait(), 0);
}

TYPED_TEST(SyncTypedTest, RLock_OwnerDiesHoldingTwoLevels_NextAcquirerGetsOneLevel) {
  auto r = procpool::rlock::create(this->arena, "r");
  auto w = this->spawn([&] {
    auto theirs = procpool::rlock::open(this->arena, "r");
    PP_WCHECK(theirs.acquire().acquired);
    PP_WCHECK(theirs.acquire().acquired);
    return this->die();
  });
  EXPECT_EQ(w->wait(), died_status);
  const auto got = r.acquire();
  EXPECT_TRUE(got.acquired);
  EXPECT_TRUE(got.owner_died);
  r.release();  // one release frees it
  EXPECT_FALSE(r.held_by_me());
  gate done;
  auto w2 = this->spawn([&] {
    auto theirs = procpool::rlock::open(this->arena, "r");
    const auto g = theirs.acquire(false);
    PP_WCHECK(g.acquired && !g.owner_died);
    theirs.release();
    return 0;
  });
  EXPECT_EQ(w2->wait(), 0);
}

TYPED_TEST(SyncTypedTest, Event_SetClearIsSet) {
  auto e = procpool::event::create(this->arena, "e");
  EXPECT_FALSE(e.is_set());
  EXPECT_FALSE(e.wait(0ms));
  e.set();
  EXPECT_TRUE(e.is_set());
  EXPECT_TRUE(e.wait());
  EXPECT_TRUE(e.wait(0ms));
  e.set();  // idempotent
  e.clear();
  EXPECT_FALSE(e.is_set());
}

TYPED_TEST(SyncTypedTest, Event_WaitTimesOut) {
  auto e = procpool::event::create(this->arena, "e");
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(e.wait(50ms));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 45ms);
}

TYPED_TEST(SyncTypedTest, Event_SetWakesEveryWaiter) {
  auto e = procpool::event::create(this->arena, "e");
  auto* state = static_cast<procpool::detail::event_state*>(
      this->arena.find("e", shared_kind::event).storage);
  std::vector<std::unique_ptr<procpool_test::worker>> ws;
  for (int i = 0; i < 3; ++i) {
    ws.push_back(this->spawn([&] {
      auto mine = procpool::event::open(this->arena, "e");
      PP_WCHECK(mine.wait(scaled(10s)));
      return 0;
    }));
  }
  // Every waiter is asleep in the event before we set it.
  ASSERT_TRUE(procpool_test::wait_until([&] { return state->waiters.load() == 3; }, 10s));
  e.set();
  for (auto& w : ws) EXPECT_EQ(w->wait(), 0);
}

TYPED_TEST(SyncTypedTest, Event_SetThenClearBeforeTheWaiterRuns_StillWakesIt) {
  auto e = procpool::event::create(this->arena, "e");
  auto* state = static_cast<procpool::detail::event_state*>(
      this->arena.find("e", shared_kind::event).storage);
  auto w = this->spawn([&] {
    auto mine = procpool::event::open(this->arena, "e");
    PP_WCHECK(mine.wait(scaled(10s)));
    return 0;
  });
  ASSERT_TRUE(procpool_test::wait_nonzero(state->waiters));
  e.set();
  e.clear();
  EXPECT_EQ(w->wait(), 0);
  EXPECT_FALSE(e.is_set());
}

// A setter killed after raising the flag but before waking the waiters
// (reproduced by hiding the waiter count from set(), so it skips the wake-up)
// must not leave a waiter asleep for good: it looks again on its own.
TEST(SyncProcessTest, Event_SetterKilledBeforeWaking_WaiterStillReturns) {
  shared_state_arena arena(true, 4U << 20U);
  auto e = procpool::event::create(arena, "e");
  auto* state = static_cast<procpool::detail::event_state*>(arena.find("e", shared_kind::event).storage);
  gate returned;
  procpool_test::worker w(true, [&] {
    PP_WCHECK(e.wait());
    returned.open();
    return 0;
  });
  ASSERT_TRUE(procpool_test::wait_nonzero(state->waiters));
  const std::uint32_t hidden = state->waiters.exchange(0);
  e.set();
  state->waiters.fetch_add(hidden);
  const bool woke = returned.wait(5s);
  EXPECT_TRUE(woke) << "wait() still asleep after a missed wake-up";
  if (!woke) w.kill();
  EXPECT_EQ(w.wait(), woke ? 0 : died_status);
}

// A waiter killed inside wait() leaves its count behind: set() then makes a
// spare wake-up call, and the event works on for everyone else.
TEST(SyncProcessTest, Event_WaiterKilledInsideWait_EventWorksOn) {
  shared_state_arena arena(true, 4U << 20U);
  auto e = procpool::event::create(arena, "e");
  auto* state = static_cast<procpool::detail::event_state*>(arena.find("e", shared_kind::event).storage);
  procpool_test::worker dead(true, [&] { return e.wait() ? 0 : 1; });
  ASSERT_TRUE(procpool_test::wait_nonzero(state->waiters));
  dead.kill();
  EXPECT_EQ(dead.wait(), died_status);
  EXPECT_FALSE(e.is_set());
  EXPECT_FALSE(e.wait(10ms));
  procpool_test::worker live(true, [&] { return e.wait(scaled(10s)) ? 0 : 1; });
  ASSERT_TRUE(procpool_test::wait_until([&] { return state->waiters.load() == 2; }, 10s));
  e.set();
  EXPECT_EQ(live.wait(), 0);
  EXPECT_TRUE(e.wait(0ms));
  e.clear();
  EXPECT_FALSE(e.is_set());
}

TYPED_TEST(SyncTypedTest, Lock_ExcludesConcurrentIncrements) {
  (void)procpool::lock::create(this->arena, "l");
  auto a = procpool::shared_array<long>::create(this->arena, "n", 1);
  constexpr int workers = 4;
  constexpr int per_worker = 2000;
  std::vector<std::unique_ptr<procpool_test::worker>> ws;
  for (int i = 0; i < workers; ++i) {
    ws.push_back(this->spawn([&] {
      auto mine = procpool::lock::open(this->arena, "l");
      auto arr = procpool::shared_array<long>::open(this->arena, "n");
      for (int k = 0; k < per_worker; ++k) {
        procpool::held_lock g = mine.hold();
        arr[0] = arr[0] + 1;  // a plain read-modify-write, made safe by the lock
      }
      return 0;
    }));
  }
  for (auto& w : ws) EXPECT_EQ(w->wait(), 0);
  EXPECT_EQ(a[0], workers * per_worker);
}

}  // namespace
