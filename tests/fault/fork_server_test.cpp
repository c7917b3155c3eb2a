// The fork server (start_method::fork_server, the default) is a process too, and
// it can die: SIGKILL from outside, the OOM killer. Its workers die with it
// (PR_SET_PDEATHSIG). The pool must not hang (I2: no call blocks past its
// bound; every tag ends in one terminal state, I1) and should keep serving.
#include "fault_tasks.hpp"
#include "fault_util.hpp"

#include <sys/resource.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace procpool_fault;

class ForkServerTest : public FaultTest {
 protected:
  /// The pool's fork server: this process's only child while the pool lives.
  static std::optional<proc_id> find_fork_server() {
    std::vector<proc_stat> direct;
    for (const auto& d : descendants()) {
      if (d.ppid == ::getpid() && d.state != 'Z') direct.push_back(d);
    }
    if (direct.size() != 1) return std::nullopt;
    return proc_id{direct[0].pid, direct[0].start_ticks};
  }


  /// Starts a pool, runs two hanging tasks, SIGKILLs the fork server under
  /// them, and checks what must hold whatever the pool does next: the running
  /// tags end crashed, later submissions end or are refused, nothing hangs,
  /// every tag is accounted for once.
  void kill_server_under_running_tasks(procpool::pool& pool) {
    scratch_dir dir;
    auto fifo = dir.make_fifo("pids");
    ASSERT_TRUE(ends_done(pool.submit("warmup", "square", 2), 4));
    const auto server = find_fork_server();
    ASSERT_TRUE(server.has_value()) << "no single fork server child:" << describe(descendants());

    const task_handle a = pool.submit("a", "report_pid_and_hang", fifo.path);
    const task_handle b = pool.submit("b", "report_pid_and_hang", fifo.path);
    const auto pa = read_pid_line(fifo.fd, 30s);
    const auto pb = read_pid_line(fifo.fd, 30s);
    ASSERT_TRUE(pa && pb && pa->size() == 1 && pb->size() == 1) << "tasks did not report pids";
    const pid_t workers[2] = {pa->front(), pb->front()};
    ASSERT_EQ(::kill(server->pid, SIGKILL), 0);

    // The running tags lose their workers (PR_SET_PDEATHSIG of the server).
    // (If one never ends, results() below would block for ever: stop here;
    // the pool's destructor may then hang too, and the watchdog reports it.)
    const auto worker_states = [&] {
      std::string out;
      for (const pid_t w : workers) {
        const auto st = read_proc_stat(w);
        out += " worker " + std::to_string(w) + ": " +
               (st ? std::string("state ") + st->state + ", ppid " + std::to_string(st->ppid)
                   : std::string("gone"));
      }
      return out + "; fork server " + std::to_string(server->pid) +
             (is_dead(*server) ? " dead" : " alive");
    };
    ASSERT_TRUE(ends_in(a, task_state::crashed, 10s)) << worker_states();
    ASSERT_TRUE(ends_in(b, task_state::crashed, 10s)) << worker_states();

    // Later work ends (on a new server) or is refused/cancelled with a reason,
    // but never hangs.
    std::set<std::string> tags{"warmup", "a", "b"};
    std::vector<task_handle> later;
    std::string refusal;
    for (int i = 0; i < 5 && refusal.empty(); ++i) {
      try {
        later.push_back(pool.submit("later" + std::to_string(i), "square", i));
        tags.insert("later" + std::to_string(i));
      } catch (const procpool::error& e) {
        refusal = e.what();
      }
    }
    for (const auto& h : later) {
      ASSERT_TRUE(h.wait_for(scaled(15s))) << h.tag() << " hangs after the fork server died";
    }
    const auto all = pool.results();
    EXPECT_TRUE(every_tag_once(all, tags));
    std::printf("after the fork server died: %zu later tags:%s; refusal: %s\n", later.size(),
                describe(count_states(all)).c_str(), refusal.empty() ? "none" : refusal.c_str());
  }
};

TEST_F(ForkServerTest, ServerKilled_RunningTagsCrashedNothingHangs) {
  procpool::pool pool(process_opts(2, procpool::start_method::fork_server));
  kill_server_under_running_tasks(pool);
  ASSERT_FALSE(HasFatalFailure());
  const auto t0 = std::chrono::steady_clock::now();
  pool.terminate(scaled(200ms));
  pool.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, scaled(1200ms));
}

TEST_F(ForkServerTest, ServerKilled_IdlePoolDoesNotSpin) {
  // Once the server is gone and nothing is left to do, the pool's threads must
  // sleep. The CPU time this process uses over a short window is measured (the
  // window is an observation period, not an ordering of events).
  procpool::pool pool(process_opts(2, procpool::start_method::fork_server));
  ASSERT_TRUE(ends_done(pool.submit("warmup", "square", 2), 4));
  const auto server = find_fork_server();
  ASSERT_TRUE(server.has_value());
  ASSERT_EQ(::kill(server->pid, SIGKILL), 0);
  ASSERT_TRUE(wait_until([&] { return pool.stats().workers_alive == 0; }, 10s));
  const auto cpu = [] {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    return std::chrono::microseconds(ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec +
                                     ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec);
  };
  const auto window = scaled(500ms);
  const auto cpu0 = cpu();
  std::this_thread::sleep_for(window);  // the observation window
  const auto used = cpu() - cpu0;
  EXPECT_LT(used, window / 4) << "the pool burns CPU while idle after its fork server died: "
                              << used.count() << " us of CPU in " << window.count() << " ms";
  pool.terminate(scaled(200ms));
  pool.join();
}

TEST_F(ForkServerTest, ServerKilled_PoolKeepsServing) {
  // I2: "the pool keeps serving after any fault" -- the death of its fork
  // server included (a new server, or workers forked another way).
  procpool::pool pool(process_opts(2, procpool::start_method::fork_server));
  kill_server_under_running_tasks(pool);
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_TRUE(canary_done(pool)) << "the pool stopped serving once its fork server died";
  pool.terminate(scaled(200ms));
  pool.join();
}

}  // namespace
