// The chaos soak (issue 3, "Tests": 20k tasks while a random worker is SIGKILLed
// every 100 ms). Afterwards results() accounts for every tag exactly once:
// done + crashed == all, and a crashed tag used all of its attempts (I1); the
// pool still serves a canary (I2); nothing leaked (I3, fixture).
//
// Labels: fault stress notsan. Sized to stay well under a minute on a 2-core VM.
#include "fault_tasks.hpp"
#include "fault_util.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace procpool_fault;
using steady = std::chrono::steady_clock;

class ChaosSoakTest : public StartMethodTest {
 protected:
  [[nodiscard]] unsigned watchdog_seconds() const override { return 110; }
};

/// The pids of workers that finished a task lately (fed by on_done callbacks).
class recent_workers {
 public:
  void add(int pid) {
    const std::lock_guard<std::mutex> lock(m_);
    pids_.insert(pid);
  }
  [[nodiscard]] std::vector<pid_t> take() {
    const std::lock_guard<std::mutex> lock(m_);
    std::vector<pid_t> out(pids_.begin(), pids_.end());
    pids_.clear();
    return out;
  }

 private:
  std::mutex m_;
  std::set<pid_t> pids_;
};

/// SIGKILLs a random worker every `period` until stopped: one that finished a
/// task during the last period (so it is a ready worker of this pool, never the
/// fork server or a worker still starting) and is still a live descendant of
/// this process.
class worker_killer {
 public:
  worker_killer(recent_workers& source, std::chrono::milliseconds period)
      : source_(source), thread_([this, period] { run(period); }) {}
  worker_killer(const worker_killer&) = delete;
  worker_killer& operator=(const worker_killer&) = delete;
  worker_killer(worker_killer&&) = delete;
  worker_killer& operator=(worker_killer&&) = delete;
  ~worker_killer() { stop(); }

  void stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  [[nodiscard]] int kills() const noexcept { return kills_.load(); }

 private:
  void run(std::chrono::milliseconds period) {
    std::mt19937 rng(0xC0FFEEU);
    auto next = steady::now() + period;
    while (!stop_.load()) {
      std::this_thread::sleep_until(next);  // the pace of the chaos, not an ordering
      next += period;
      std::vector<pid_t> candidates = source_.take();
      std::shuffle(candidates.begin(), candidates.end(), rng);
      for (const pid_t p : candidates) {
        if (is_live_descendant(p) && ::kill(p, SIGKILL) == 0) {
          kills_.fetch_add(1);
          break;
        }
      }
    }
  }

  recent_workers& source_;
  std::atomic<bool> stop_{false};
  std::atomic<int> kills_{0};
  std::thread thread_;
};

/// Every 1000th tag kills its own worker on every attempt: it must end crashed
/// after retries + 1 attempts, chaos or not.
constexpr bool is_doomed(int i) { return i % 1000 == 999; }

TEST_P(ChaosSoakTest, RandomWorkerSigkilledEvery100ms_EveryTagAccountedOnce) {
  constexpr int n = 20000;
  constexpr int doomed = n / 1000;
  constexpr int retries = 3;
  procpool::options o = opts(3);
  o.retries = retries;
  const auto t0 = steady::now();
  procpool::pool pool(o);

  std::set<std::string> tags;
  std::map<std::string, procpool::result> all;
  int kills = 0;
  recent_workers recent;
  const procpool::callback note_worker = [&](const procpool::result& r) { recent.add(r.worker_pid); };
  {
    worker_killer killer(recent, 100ms);
    for (int i = 0; i < n; ++i) {
      std::string tag = "t" + std::to_string(i);
      if (is_doomed(i)) {
        (void)pool.submit(tag, "fault_sigkill_self", nullptr, note_worker, note_worker);
      } else {
        (void)pool.submit(tag, "fault_spin_us", 300, note_worker, note_worker);
      }
      tags.insert(std::move(tag));
    }
    all = pool.results();
    killer.stop();
    kills = killer.kills();
  }
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0);

  ASSERT_TRUE(every_tag_once(all, tags));
  const auto counts = count_states(all);
  const auto count = [&](task_state s) { return counts.count(s) != 0 ? counts.at(s) : 0U; };
  EXPECT_EQ(count(task_state::done) + count(task_state::crashed), static_cast<std::size_t>(n))
      << describe(counts);
  std::size_t retried_done = 0;
  int reported = 0;
  for (const auto& [tag, r] : all) {
    if (is_doomed(std::stoi(tag.substr(1)))) {
      EXPECT_EQ(r.state, task_state::crashed) << describe(r);
    }
    if (r.state == task_state::crashed) {
      EXPECT_EQ(r.attempts, retries + 1) << describe(r);
      EXPECT_EQ(r.attempt_errors.size(), static_cast<std::size_t>(retries)) << describe(r);
      EXPECT_EQ(r.signal, SIGKILL) << describe(r);
    } else if (r.state == task_state::done) {
      EXPECT_EQ(r.value, 300) << describe(r);
      EXPECT_EQ(r.attempt_errors.size(), static_cast<std::size_t>(r.attempts - 1)) << describe(r);
      if (r.attempts > 1) ++retried_done;
    } else if (reported++ < 10) {
      ADD_FAILURE() << "unexpected state: " << describe(r);
    }
  }

  EXPECT_TRUE(canary_done(pool));
  const procpool::pool_stats s = pool.stats();
  EXPECT_GE(kills, 10) << "the killer hardly ran";
  EXPECT_GE(s.worker_deaths, 1U);
  EXPECT_LE(s.worker_deaths, static_cast<std::size_t>(kills + doomed * (retries + 1)))
      << "workers died that nobody killed";
  EXPECT_GE(count(task_state::crashed), static_cast<std::size_t>(doomed));
  pool.close();
  pool.join();
  std::printf("soak (%s): %d tasks in %lld ms, %d SIGKILLs, %zu worker deaths, %zu start failures, "
              "%zu workers started, %zu done after a retry, %zu crashed\n",
              to_string(start()), n, static_cast<long long>(took.count()), kills, s.worker_deaths, s.start_failures,
              s.workers_started, retried_done, count(task_state::crashed));
}

PROCPOOL_FAULT_FOR_EVERY_START_METHOD(ChaosSoakTest);

}  // namespace
