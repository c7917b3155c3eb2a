// 08_shared_dict.cpp: a string -> JSON dictionary shared by every worker, the
// analogue of Python's multiprocessing.Manager().dict().
//
// This ports the second seed note's program:
//
//     def Foo(i, dic):
//         dic[i] = 100 + i
//         print(dic.values())
//     dic = Manager().dict()
//     for i in range(2):
//         p = Process(target=Foo, args=(i, dic))
//         p.start()
//         p.join()
//
// In Python the Manager dict lives in a server process: every dic[i] = ... is a
// round trip over a socket (about 10.9k set+get pairs per second from a worker
// on these machines). procpool's shared_dict lives in shared memory behind a
// robust lock: the same calls are memory operations. Unlike the Manager dict
// its capacity is fixed when it is created; running out is a clear error
// (errc::full), never a crash.
//
// Run: ./08_shared_dict [--mode thread|process]   (default: process)
// Exits 0 only if every check holds.

#include <procpool/procpool.hpp>

#include "example_util.hpp"

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

// prefix + decimal n. (Not "x" + std::to_string(n): GCC 12 at -O2 warns a
// -Wrestrict false positive inside std::string's operator+.)
std::string numbered(std::string_view prefix, long n) {
  std::string s(prefix);
  s += std::to_string(n);
  return s;
}

// The seed's Foo(i, dic): the dict is found by name instead of passed along.
std::vector<nlohmann::json> foo(procpool::task_context& ctx, int i) {
  procpool::shared_dict dic = ctx.dict("dic");
  dic.set(std::to_string(i), 100 + i);  // JSON keys are strings
  return dic.values();                  // the seed printed dic.values()
}

// Word counting from many tasks at once. update_with runs the function with the
// dict locked, so concurrent increments of the same key never get lost.
int count_words(procpool::task_context& ctx, const std::vector<std::string>& words) {
  procpool::shared_dict counts = ctx.dict("counts");
  for (const auto& w : words) {
    (void)counts.update_with(w, [](std::optional<nlohmann::json> old) {
      return nlohmann::json(old ? old->get<int>() + 1 : 1);
    });
  }
  return static_cast<int>(words.size());
}

// How fast is it from inside a worker? set+get pairs for ~0.2 s.
double pairs_per_second(procpool::task_context& ctx) {
  procpool::shared_dict d = ctx.dict("bench");
  const auto t0 = std::chrono::steady_clock::now();
  long n = 0;
  std::chrono::duration<double> dt{};
  do {
    for (int k = 0; k < 1000; ++k, ++n) {
      const std::string key = numbered("k", n % 100);
      d.set(key, n);
      (void)d.get(key);
    }
    dt = std::chrono::steady_clock::now() - t0;
  } while (dt.count() < 0.2);
  return static_cast<double>(n) / dt.count();
}

}  // namespace

PROCPOOL_TASK(foo, foo);
PROCPOOL_TASK(count_words, count_words);
PROCPOOL_TASK(pairs_per_second, pairs_per_second);

int main(int argc, char** argv) {
  const procpool::mode m = example::parse_mode(argc, argv, procpool::mode::process);
  procpool::pool pool({.mode = m, .workers = 4});
  bool ok = true;

  // 1. Manager().dict(): up to 100 entries of at most 1 KiB (key + encoded value).
  procpool::shared_dict dic = pool.make_dict("dic", 100);

  // 2. One task after the other, like p.start(); p.join() in the seed.
  for (int i = 0; i < 2; ++i) {
    const nlohmann::json values = pool.apply(numbered("foo-", i), "foo", i);
    std::cout << "task " << i << " sees dic.values() = " << values.dump() << '\n';
    ok &= example::check(values.size() == static_cast<std::size_t>(i + 1), "values() grows by one");
  }
  std::cout << "supervisor sees " << dic.snapshot().dump() << '\n';
  ok &= example::check(dic.snapshot() == nlohmann::json{{"0", 100}, {"1", 101}}, "dic is {0: 100, 1: 101}");

  // 3. Concurrent updates of the same keys from 4 workers.
  procpool::shared_dict counts = pool.make_dict("counts", 16);
  const std::vector<std::string> text = {"to", "be", "or", "not", "to", "be"};
  const auto n = pool.map("count_words", std::vector<nlohmann::json>(20, text));
  std::cout << "word counts after " << n.size() << " tasks: " << counts.snapshot().dump() << '\n';
  ok &= example::check(counts.get("to", 0) == 40 && counts.get("be", 0) == 40 &&
                  counts.get("or", 0) == 20 && counts.get("not", 0) == 20,
              "counts are exact");

  // 4. Capacity is fixed: a new key past it is refused with errc::full.
  procpool::shared_dict small = pool.make_dict("small", 2);
  small.set("a", 1);
  small.set("b", 2);
  try {
    small.set("c", 3);
    ok &= example::check(false, "a third key is refused");
  } catch (const procpool::error& e) {
    std::cout << "as expected: " << e.what() << '\n';
    ok &= example::check(e.code_value() == procpool::errc::full, "the error is errc::full");
  }
  small.set("a", 10);  // replacing a value in a full dict is fine

  // 5. Speed from inside a worker (printed, not checked).
  (void)pool.make_dict("bench", 128);
  const double rate = pool.apply("bench", "pairs_per_second").get<double>();
  std::cout << "set+get pairs per second in a worker: " << static_cast<long>(rate)
            << " (Python's Manager().dict(): about 10900)\n";

  pool.close();
  pool.join();
  std::cout << (ok ? "OK" : "FAILED") << '\n';
  return ok ? 0 : 1;
}
