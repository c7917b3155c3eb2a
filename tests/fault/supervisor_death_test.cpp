// Supervisor death (issue 3, "Supervisor death"; I3): when the process that owns
// the pool is SIGKILLed, every worker and every child of a task exits within
// about a second, and nothing is left in /dev/shm.
//
// The pool runs in a child of the test (forked while the test process has no
// other thread); its tasks report "<worker pid> [<grandchild pid>]" lines
// through a FIFO; the test SIGKILLs the child and waits, under a deadline, for
// every reported process to be gone.
#include "fault_tasks.hpp"
#include "fault_util.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace procpool_fault;

enum class scenario { busy, idle };

/// The body of the supervisor child: never returns, never touches gtest.
[[noreturn]] void run_supervisor(const std::string& fifo, scenario what,
                                 procpool::start_method start) {
  try {
    procpool::options o = process_opts(3, start);
    procpool::pool pool(o);
    if (what == scenario::busy) {
      // Two tasks that fork a sleeping child, one that ignores SIGTERM, and
      // more queued behind them.
      (void)pool.submit("gc1", "fault_spawn_grandchild_and_hang", {fifo, false, false});
      (void)pool.submit("gc2", "fault_spawn_grandchild_and_hang", {fifo, true, true});
      (void)pool.submit("stubborn", "fault_ignore_term_and_hang", fifo);
      for (int i = 0; i < 5; ++i) (void)pool.submit("q" + std::to_string(i), "sleep_ms", 100000);
    } else {
      // Workers that finished their tasks and wait for more.
      std::set<int> pids;
      for (int round = 0; round < 50 && pids.size() < 3; ++round) {
        std::vector<task_handle> hs;
        for (int i = 0; i < 3; ++i) {
          hs.push_back(pool.submit("p" + std::to_string(round) + "_" + std::to_string(i),
                                   "sleep_ms", 50));
        }
        for (const auto& h : hs) pids.insert(h.result().worker_pid);
      }
      std::string line;
      for (const int p : pids) line += std::to_string(p) + " ";
      line += "\n";
      const int fd = ::open(fifo.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0 || ::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
        ::_exit(3);
      }
      ::close(fd);
    }
    // Wait to be killed (and give up if the test never does).
    const auto deadline = std::chrono::steady_clock::now() + scaled(120s);
    while (std::chrono::steady_clock::now() < deadline) ::pause();
    ::_exit(1);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "supervisor child: %s\n", e.what());
    ::_exit(2);
  }
}

class SupervisorDeathTest : public StartMethodTest {
 protected:
  void expect_everything_exits(scenario what, std::size_t lines) {
    scratch_dir dir;
    auto fifo = dir.make_fifo("pids");
    const std::set<std::string> shm_before = shm_listing();
    ASSERT_TRUE(descendants().empty()) << "the test must start without children";

    std::fflush(nullptr);
    const pid_t sup = ::fork();
    ASSERT_GE(sup, 0) << "fork failed";
    if (sup == 0) run_supervisor(fifo.path, what, start());
    bool reaped = false;
    const procpool_test::scope_exit reap_supervisor([&] {
      if (!reaped) {
        ::kill(sup, SIGKILL);
        ::waitpid(sup, nullptr, 0);
      }
    });

    std::vector<proc_id> procs;
    std::vector<std::string> roles;  // parallel to procs
    std::vector<pid_t> all_pids{sup};
    const procpool_test::scope_exit kill_leftovers([&] {
      for (const auto& p : procs) kill_if_alive(p);
    });
    for (std::size_t i = 0; i < lines; ++i) {
      const auto pids = read_pid_line(fifo.fd, 30s);
      ASSERT_TRUE(pids.has_value()) << "the supervisor child reported only " << i << " of "
                                    << lines << " lines";
      for (std::size_t k = 0; k < pids->size(); ++k) {
        const pid_t p = (*pids)[k];
        const auto id = identify(p);
        ASSERT_TRUE(id.has_value()) << "reported process " << p << " is already gone";
        procs.push_back(*id);
        roles.emplace_back(k == 0 ? "worker" : "child of a task");
        all_pids.push_back(p);
      }
    }
    ASSERT_FALSE(procs.empty());
    // Everything the supervisor started, directly or not (a fork server too),
    // besides the processes the tasks reported.
    for (const auto& d : descendants(sup)) {
      const bool known = std::any_of(procs.begin(), procs.end(),
                                     [&](const proc_id& p) { return p.pid == d.pid; });
      if (!known && d.state != 'Z') {
        procs.push_back({d.pid, d.start_ticks});
        roles.emplace_back(d.ppid == sup ? "child of the supervisor" : "descendant");
        all_pids.push_back(d.pid);
      }
    }

    ASSERT_EQ(::kill(sup, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(sup, &status, 0), sup);
    reaped = true;
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the supervisor child ended on its own (status " << status << ")";

    const bool all_gone = wait_until(
        [&] {
          for (const auto& p : procs) {
            if (!is_dead(p)) return false;
          }
          return true;
        },
        2s);
    if (!all_gone) {
      std::string alive;
      for (std::size_t k = 0; k < procs.size(); ++k) {
        const proc_id& p = procs[k];
        if (is_dead(p)) continue;
        const auto st = read_proc_stat(p.pid);
        alive += " " + roles[k] + " " + std::to_string(p.pid) + "(state " +
                 (st ? std::string(1, st->state) : "?") +
                 ", ppid " + (st ? std::to_string(st->ppid) : "?") + ", pgrp " +
                 (st ? std::to_string(st->pgrp) : "?") + ")";
      }
      ADD_FAILURE() << "still alive 2 s after the supervisor was SIGKILLed:" << alive;
    }

    for (const auto& name : shm_listing()) {
      if (shm_before.count(name) != 0) continue;
      if (shm_name_is_ours(name, all_pids)) {
        ADD_FAILURE() << "/dev/shm/" << name << " left behind by the killed supervisor";
      } else {
        // Some other program of this machine may create names meanwhile.
        std::printf("note: new /dev/shm/%s appeared during the test (not ours)\n", name.c_str());
      }
    }
  }
};

TEST_P(SupervisorDeathTest, SupervisorKilled_BusyWorkersAndTaskChildrenExit) {
  // Lines: gc1 (worker + child), gc2 (worker + child), stubborn (worker).
  expect_everything_exits(scenario::busy, 3);
}

TEST_P(SupervisorDeathTest, SupervisorKilled_IdleWorkersExit) {
  expect_everything_exits(scenario::idle, 1);
}

TEST_P(SupervisorDeathTest, PoolMadeByThreadThatExits_WorkersOutliveThatThread) {
  // PR_SET_PDEATHSIG fires when the *thread* that forked a process exits. A
  // pool made (and first used) by a short-lived thread must keep its workers.
  std::unique_ptr<procpool::pool> pool;
  int pid_before = 0;
  std::thread maker([&] {
    pool = std::make_unique<procpool::pool>(opts(1));
    const procpool::result r = pool->submit("before", "pid").result();
    pid_before = r.state == task_state::done ? r.value.get<int>() : -1;
  });
  maker.join();
  ASSERT_GT(pid_before, 0) << "the first task did not run";
  for (int i = 0; i < 5; ++i) {
    const task_handle h = pool->submit("after" + std::to_string(i), "pid");
    ASSERT_TRUE(ends_done(h, pid_before)) << "the worker did not outlive the thread that made the pool";
  }
  EXPECT_EQ(pool->stats().worker_deaths, 0U);
  EXPECT_EQ(pool->stats().workers_started, 1U);
  pool->close();
  pool->join();
}

PROCPOOL_FAULT_FOR_EVERY_START_METHOD(SupervisorDeathTest);

}  // namespace
