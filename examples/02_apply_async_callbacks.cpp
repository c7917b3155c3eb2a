// 02_apply_async_callbacks.cpp: fire tasks at a process pool and handle each
// result in a callback as it arrives.
//
// This ports the Pool(5) demo of the second seed note (Python multiprocessing):
//
//     def Foo(i):
//         time.sleep(1)
//         return i + 100
//
//     def Bar(arg):
//         print(arg)
//
//     pool = Pool(5)
//     for i in range(10):
//         pool.apply_async(func=Foo, args=(i,), callback=Bar)
//         print('正在执行进程{}...'.format(i))      # "running process i..."
//     print('end')
//     pool.close()
//     pool.join()
//
// In procpool, apply_async(func, args, callback) is
// submit(tag, "Foo", args, on_done, on_error): the task is named, not passed as
// a function object, because it runs in another process. The callbacks run in
// *this* process, on the pool's callback thread, once the task is finished.
//
// Run: ./02_apply_async_callbacks
// Exits 0 only if Bar saw exactly the values 100..109 and nothing failed.

#include <procpool/procpool.hpp>

#include <chrono>
#include <iostream>
#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace {

// The task. It runs in a worker process; its return value travels back as JSON.
// (The seed slept a whole second; 100 ms shows the same overlap faster.)
int foo(int i) {
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  return i + 100;
}

}  // namespace

PROCPOOL_TASK(Foo, foo);

int main() {
  // Pool(5): at most five worker processes.
  procpool::pool pool({.mode = procpool::mode::process, .workers = 5});

  // What the callbacks saw. Callbacks run on the pool's callback thread while
  // main() keeps going, so anything they share with main() needs a lock.
  std::mutex mu;
  std::multiset<int> seen;
  int errors = 0;

  // Bar: print the value. Called with the whole procpool::result; the task's
  // return value is r.value.
  auto bar = [&](const procpool::result& r) {
    const int v = r.value.get<int>();
    std::cout << v << std::endl;  // endl: flush, so lines appear as they happen
    const std::lock_guard<std::mutex> lock(mu);
    seen.insert(v);
  };
  // Python's error_callback: called for every state other than `done`.
  auto on_error = [&](const procpool::result& r) {
    std::cerr << r.tag << " ended " << procpool::to_string(r.state) << ": " << r.error_type << ": "
              << r.error_message << std::endl;
    const std::lock_guard<std::mutex> lock(mu);
    ++errors;
  };

  for (int i = 0; i < 10; ++i) {
    // The tag names the task in results and errors; it must be unique in the pool.
    (void)pool.submit("foo-" + std::to_string(i), "Foo", i, bar, on_error);
    std::cout << "正在执行进程" << i << "... (submitted Foo(" << i << "))" << std::endl;
  }
  std::cout << "end" << std::endl;

  // close(): no more tasks. join(): wait until the workers have exited and every
  // callback has run. join() before close() (or terminate()) is an error, as in
  // Python.
  pool.close();
  pool.join();

  std::multiset<int> expected;
  for (int i = 0; i < 10; ++i) expected.insert(i + 100);
  const std::lock_guard<std::mutex> lock(mu);
  const bool ok = seen == expected && errors == 0;
  std::cout << "callbacks: " << seen.size() << " on_done, " << errors << " on_error -> "
            << (ok ? "OK" : "FAILED") << std::endl;
  return ok ? 0 : 1;
}
