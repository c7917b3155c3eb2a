// 07_shared_array.cpp: a fixed-size typed array every worker can read and write,
// the analogue of Python's multiprocessing.Array.
//
// This ports the second seed note's program:
//
//     temp = Array('i', [11, 22, 33, 44])
//     def Foo(i):
//         temp[i] = 100 + i
//         for item in temp:
//             print(i, '----->', item)
//     for i in range(2):
//         Process(target=Foo, args=(i,)).start()
//     time.sleep(2)
//     for i in temp: print(i)           # 100 101 33 44
//
// With procpool: the supervisor creates the array by name (pool.make_array), a
// task opens it by name (ctx.array<int>), and we wait for the tasks instead of
// sleeping. Then it shows the three ways to update shared elements safely from
// many workers at once: atomics (fetch_add), the array's own lock, and a named
// rlock; and what happens without any of them.
//
// Run: ./07_shared_array [--mode thread|process]   (default: process, like the seed)
// Exits 0 only if every check holds.

#include <procpool/procpool.hpp>

#include "example_util.hpp"

#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

// prefix + decimal n. (Not "x" + std::to_string(n): GCC 12 at -O2 warns a
// -Wrestrict false positive inside std::string's operator+.)
std::string numbered(std::string_view prefix, long n) {
  std::string s(prefix);
  s += std::to_string(n);
  return s;
}

// The seed's Foo(i): write our element, then look at the whole array. A task
// cannot print reliably from a worker process (output interleaves), so it
// returns what it saw and main() prints it.
std::vector<int> foo(procpool::task_context& ctx, int i) {
  procpool::shared_array<int> temp = ctx.array<int>("temp");
  temp[static_cast<std::size_t>(i)] = 100 + i;  // each task writes only its own element
  return {temp.begin(), temp.end()};
}

// Many tasks add to shared counters at the same time.
//   counters[0]: fetch_add, one atomic instruction per update;
//   counters[1]: a plain read-modify-write under the array's lock;
//   counters[2]: a compound update under a named rlock (re-entrant: the helper
//                takes it again while the task holds it).
void add_to(procpool::rlock& l, procpool::shared_array<long>& c) {
  procpool::held_lock again = l.hold();  // the same thread: does not deadlock
  c[2] = c[2] + 1;
}

long count(procpool::task_context& ctx, int times) {
  auto counters = ctx.array<long>("counters");
  auto big = ctx.rlock("big");
  for (int k = 0; k < times; ++k) {
    counters.fetch_add(0, 1);
    {
      procpool::held_lock g = counters.lock();
      counters[1] = counters[1] + 1;
    }
    procpool::held_lock g = big.hold();
    add_to(big, counters);
  }
  return times;
}

// The same increments with no lock and no atomics: updates get lost.
// racy[0] is the counter; racy[1] a start line, so that both tasks really run
// at the same time (each arrives, then waits for the other).
long count_racy(procpool::task_context& ctx, int times) {
  auto racy = ctx.array<long>("racy");
  racy.fetch_add(1, 1);
  while (racy.load(1) < 2) std::this_thread::yield();
  volatile long* n = &racy[0];
  for (int k = 0; k < times; ++k) *n = *n + 1;  // read, add, write: not atomic
  return times;
}

}  // namespace

PROCPOOL_TASK(foo, foo);
PROCPOOL_TASK(count, count);
PROCPOOL_TASK(count_racy, count_racy);

int main(int argc, char** argv) {
  const procpool::mode m = example::parse_mode(argc, argv, procpool::mode::process);
  procpool::pool pool({.mode = m, .workers = 2});
  bool ok = true;

  // 1. Array('i', [11, 22, 33, 44]): created by the supervisor, by name. Its size
  //    and element type are fixed; it lives in the pool's shared memory.
  procpool::shared_array<int> temp = pool.make_array<int>("temp", {11, 22, 33, 44});

  // 2. Two tasks, like the seed's two processes; wait for both (no sleep(2)).
  auto h0 = pool.submit("foo-0", "foo", 0);
  auto h1 = pool.submit("foo-1", "foo", 1);
  for (auto* h : {&h0, &h1}) {
    const nlohmann::json seen = h->get();
    const int i = h == &h0 ? 0 : 1;
    for (const auto& item : seen) std::cout << i << " -----> " << item << '\n';
  }

  // 3. The supervisor sees both writes: 100 101 33 44.
  for (int v : temp) std::cout << v << '\n';
  ok &= example::check(temp.to_vector() == std::vector<int>{100, 101, 33, 44}, "temp is 100 101 33 44");

  // 4. Safe concurrent updates: 8 tasks x 2000 increments of each counter.
  auto counters = pool.make_array<long>("counters", 3);
  (void)pool.make_rlock("big");
  constexpr int tasks = 8;
  constexpr int times = 2000;
  const auto done = pool.map("count", std::vector<int>(tasks, times));
  ok &= example::check(done.size() == tasks, "every count task ran");
  std::cout << "fetch_add: " << counters.load(0) << ", array lock: " << counters[1]
            << ", rlock: " << counters[2] << " (expected " << tasks * times << " each)\n";
  for (std::size_t c = 0; c < 3; ++c) {
    ok &= example::check(counters[c] == tasks * times, numbered("counter ", static_cast<long>(c)) + " is exact");
  }

  // 5. And without: the same increments with no lock lose updates whenever two
  //    workers interleave (in thread mode this is a data race, undefined
  //    behaviour; do not write it). Shown, not checked: a lucky run loses none.
  if (m == procpool::mode::process) {
    auto racy = pool.make_array<long>("racy", 2);
    (void)pool.map("count_racy", std::vector<int>(2, 20'000'000));
    std::cout << "no lock, no atomics: " << racy[0] << " of " << 2 * 20'000'000
              << " increments survived\n";
  }

  pool.close();
  pool.join();
  std::cout << (ok ? "OK" : "FAILED") << '\n';
  return ok ? 0 : 1;
}
