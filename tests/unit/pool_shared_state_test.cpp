// Shared state through the pool: pool.make_* in the supervisor, ctx.array/dict/
// queue/event/lock/rlock in tasks, over thread mode and every process start
// method (fork server, fork, spawn: a spawned worker attaches to the arena's
// memfd at another address).
#include "test_util.hpp"

#include <procpool/procpool.hpp>

#include <csignal>
#include <string>
#include <vector>

namespace procpool_test {
struct ss_thread {
  static procpool::options opts() { return procpool::options{}.with_mode(procpool::mode::thread); }
};
struct ss_fork_server {
  static procpool::options opts() {
    return procpool::options{}.with_mode(procpool::mode::process).with_start(procpool::start_method::fork_server);
  }
};
struct ss_fork {
  static procpool::options opts() {
    return procpool::options{}.with_mode(procpool::mode::process).with_start(procpool::start_method::fork);
  }
};
struct ss_spawn {
  static procpool::options opts() {
    return procpool::options{}.with_mode(procpool::mode::process).with_start(procpool::start_method::spawn);
  }
};
}  // namespace procpool_test

namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

long ss_count(procpool::task_context& ctx, int times) {
  auto n = ctx.array<long>("n");
  auto d = ctx.dict("d");
  auto l = ctx.lock("l");
  auto r = ctx.rlock("r");
  for (int k = 0; k < times; ++k) {
    n.fetch_add(0, 1);
    {
      procpool::held_lock g = l.hold();
      n[1] = n[1] + 1;
    }
    {
      procpool::held_lock g1 = r.hold();
      procpool::held_lock g2 = r.hold();
      n[2] = n[2] + 1;
    }
    (void)d.update_with("hits", [](std::optional<json> old) { return json(old ? old->get<int>() + 1 : 1); });
  }
  return times;
}

long ss_consume(procpool::task_context& ctx) {
  auto q = ctx.queue("q");
  long sum = 0;
  for (;;) {
    const json item = q.get(true, std::chrono::seconds(30));
    q.task_done();
    if (item.is_null()) return sum;
    sum += item.get<long>();
  }
}

bool ss_wait(procpool::task_context& ctx) { return ctx.event("go").wait(std::chrono::seconds(30)); }

int ss_die_holding(procpool::task_context& ctx) {
  (void)ctx.lock("l").acquire();
  ::raise(SIGKILL);
  return 0;
}

std::string ss_missing(procpool::task_context& ctx) {
  try {
    (void)ctx.dict("nope");
  } catch (const procpool::error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

PROCPOOL_TASK(ss_count, ss_count);
PROCPOOL_TASK(ss_consume, ss_consume);
PROCPOOL_TASK(ss_wait, ss_wait);
PROCPOOL_TASK(ss_die_holding, ss_die_holding);
PROCPOOL_TASK(ss_missing, ss_missing);

namespace {

template <class Mode>
class PoolSharedStateTypedTest : public ::testing::Test {
 protected:
  procpool::options opts() const { return Mode::opts().with_workers(3).with_shared_state_bytes(8U << 20U); }
};
using modes = ::testing::Types<procpool_test::ss_thread, procpool_test::ss_fork_server,
                               procpool_test::ss_fork, procpool_test::ss_spawn>;
TYPED_TEST_SUITE(PoolSharedStateTypedTest, modes);

TYPED_TEST(PoolSharedStateTypedTest, TasksShareArrayDictLocks) {
  procpool::pool pool(this->opts());
  auto n = pool.make_array<long>("n", 3);
  auto d = pool.make_dict("d", 8);
  (void)pool.make_lock("l");
  (void)pool.make_rlock("r");
  const auto out = pool.map("ss_count", std::vector<int>(6, 300));
  EXPECT_EQ(out.size(), 6U);
  EXPECT_EQ(n.load(0), 1800);
  EXPECT_EQ(n[1], 1800);
  EXPECT_EQ(n[2], 1800);
  EXPECT_EQ(d.get("hits", 0), json(1800));
  EXPECT_EQ(pool.dict("d").get("hits", 0), json(1800));
  EXPECT_EQ(pool.array<long>("n")[0], 1800);
  pool.close();
  pool.join();
}

TYPED_TEST(PoolSharedStateTypedTest, QueueAndEvent) {
  procpool::pool pool(this->opts());
  auto q = pool.make_queue("q", 4);
  auto go = pool.make_event("go");
  auto waiter = pool.submit("w", "ss_wait");
  auto consumer = pool.submit("c", "ss_consume");
  go.set();
  EXPECT_EQ(waiter.get(), json(true));
  for (int i = 1; i <= 100; ++i) q.put(i);
  q.put(nullptr);
  EXPECT_TRUE(q.join(procpool_test::scaled(30s)));
  EXPECT_EQ(consumer.get(), json(5050));
  pool.close();
  pool.join();
}

TYPED_TEST(PoolSharedStateTypedTest, MissingObject_IsAClearError) {
  procpool::pool pool(this->opts());
  const json what = pool.apply("m", "ss_missing");
  EXPECT_NE(what.get<std::string>().find("no shared object named 'nope'"), std::string::npos) << what;
  procpool_test::expect_errc([&] { (void)pool.queue("nope"); }, procpool::errc::invalid_argument);
  (void)pool.make_event("e");
  procpool_test::expect_errc([&] { (void)pool.make_event("e"); }, procpool::errc::invalid_argument);
  pool.close();
  pool.join();
}

TYPED_TEST(PoolSharedStateTypedTest, WorkerDiesHoldingALock_NextAcquirerSeesOwnerDied) {
  if (TypeParam::opts().mode == procpool::mode::thread) GTEST_SKIP() << "a task cannot die alone in thread mode";
  procpool::pool pool(this->opts());
  auto l = pool.make_lock("l");
  const procpool::result r = pool.submit("die", "ss_die_holding").result();
  EXPECT_EQ(r.state, procpool::task_state::crashed);
  const auto got = l.acquire(true, procpool_test::scaled(10s));
  EXPECT_TRUE(got.acquired);
  EXPECT_TRUE(got.owner_died);
  l.release();
  pool.close();
  pool.join();
}

TEST(PoolSharedStateTest, TooSmallArena_IsRefusedAtConstruction) {
  procpool_test::expect_errc(
      [] { procpool::pool p(procpool::options{}.with_mode(procpool::mode::thread).with_shared_state_bytes(1000)); },
      procpool::errc::invalid_argument);
}

}  // namespace
