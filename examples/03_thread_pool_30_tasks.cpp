// 03_thread_pool_30_tasks.cpp: a cap of 5 workers, 30 tasks, a status callback,
// and workers that start only when they are needed.
//
// This ports the "绝版线程池" ("the ultimate thread pool") of the second seed
// note. There a hand-written ThreadPool(5) keeps a `generate_list` of the
// threads it created and a `spare_list` of idle ones, and creates a new thread
// only when no thread is idle and fewer than max_num exist:
//
//     def callback(status, result):   # status: did action() succeed
//         pass
//     def action(i):
//         time.sleep(0.5)
//         print(i)
//     pool = ThreadPool(5)
//     for i in range(30):
//         pool.apply_async(action, (i,), callback)
//     pool.close()
//
// procpool starts workers the same lazy way, so the seed's whole class becomes
// options{.workers = 5}. Its callback(status, result) becomes two callbacks:
// on_done (status true) and on_error (status false, the result says why).
//
// Run: ./03_thread_pool_30_tasks [--mode thread|process]   (default: thread)
// Exits 0 only if 29 tasks succeeded, the unlucky one failed, and no more than
// 5 workers were ever started.

#include <procpool/procpool.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

namespace {

constexpr int kTasks = 30;
constexpr int kUnlucky = 13;  // this task throws, to show the failure path
constexpr std::size_t kExpectDone = kTasks - 1;

// action(i): a short sleep (the seed slept 0.5 s), print i, and return it. One
// task throws so that the callback sees both statuses.
int action(int i) {
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (i == kUnlucky) throw std::runtime_error("task " + std::to_string(i) + " is unlucky");
  // A whole line in one call, so that lines from parallel workers do not mix.
  std::printf("action(%d)\n", i);
  std::fflush(stdout);
  return i;
}

}  // namespace

PROCPOOL_TASK(action, action);

int main(int argc, char** argv) {
  // The mode: argv "--mode thread|process" (or just "thread"/"process").
  procpool::mode m = procpool::mode::thread;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--mode" && i + 1 < argc) a = argv[++i];
    if (a.starts_with("--mode=")) a.remove_prefix(7);
    if (a == "thread") {
      m = procpool::mode::thread;
    } else if (a == "process") {
      m = procpool::mode::process;
    } else {
      std::cerr << "usage: " << argv[0] << " [--mode thread|process]\n";
      return 2;
    }
  }
  std::cout << "mode: " << (m == procpool::mode::thread ? "thread" : "process") << std::endl;

  // ThreadPool(5): a cap of five workers. None is started yet.
  procpool::pool pool({.mode = m, .workers = 5});

  // The seed's callback(status, result). Called on the pool's callback thread.
  std::mutex mu;
  std::set<int> succeeded;
  std::set<std::string> failed;
  auto callback = [&](bool status, const procpool::result& r) {
    const std::lock_guard<std::mutex> lock(mu);
    if (status) {
      succeeded.insert(r.value.get<int>());
    } else {
      std::cout << "callback(false): " << r.tag << " " << procpool::to_string(r.state) << " ("
                << r.error_type << ": " << r.error_message << ")" << std::endl;
      failed.insert(r.tag);
    }
  };
  auto on_done = [&](const procpool::result& r) { callback(true, r); };
  auto on_error = [&](const procpool::result& r) { callback(false, r); };

  for (int i = 0; i < kTasks; ++i) {
    (void)pool.submit("action-" + std::to_string(i), "action", i, on_done, on_error);
  }

  // close(): the queued tasks still run, then the workers exit; join() waits for
  // that and for the last callback.
  pool.close();
  pool.join();

  const procpool::pool_stats s = pool.stats();
  std::cout << "workers_started=" << s.workers_started << " done=" << s.done
            << " failed=" << s.failed << std::endl;

  bool ok = true;
  const std::lock_guard<std::mutex> lock(mu);
  if (succeeded.size() != kExpectDone || succeeded.contains(kUnlucky)) {
    std::cerr << "expected 29 successes, got " << succeeded.size() << '\n';
    ok = false;
  }
  if (failed != std::set<std::string>{"action-" + std::to_string(kUnlucky)}) {
    std::cerr << "expected exactly action-" << kUnlucky << " to fail\n";
    ok = false;
  }
  // Lazy start: never more workers than the cap, however many tasks queue up.
  if (s.workers_started < 1 || s.workers_started > 5) {
    std::cerr << "workers_started=" << s.workers_started << ", expected 1..5\n";
    ok = false;
  }
  if (s.done != kExpectDone || s.failed != 1) {
    std::cerr << "stats disagree with the callbacks\n";
    ok = false;
  }
  std::cout << (ok ? "OK" : "FAILED") << std::endl;
  return ok ? 0 : 1;
}
