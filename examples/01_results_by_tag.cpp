// 01_results_by_tag.cpp: submit tagged tasks, close the pool, then collect the
// results by tag in any order you like.
//
// This ports the first seed note, a Python `ThreadPoolManager`:
//
//     pool = ThreadPoolManager(10)
//     pool.put(t.test_ceng, "test_ceng996", [...], [...])
//     pool.put(t.test_ceng, "test_ceng997", {"df": "hh"})
//     pool.put(t.test_ceng, "test_ceng998", {"df": "hh"})
//     pool.close()
//     print(pool.callback("test_ceng998"))   # results come back by tag,
//     print(pool.callback("test_ceng997"))   # in whatever order we ask
//     print(pool.callback("test_ceng996"))
//
// With procpool the same program is: pool.submit(tag, task, args), close(),
// pool.result(tag) for one tag, pool.results() for all of them, join().
//
// Run: ./01_results_by_tag [--mode thread|process]   (default: thread, like the seed)
// Exits 0 only if every tag came back `done` with the value its task computed.

#include <procpool/procpool.hpp>

#include "example_util.hpp"

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

// A few random milliseconds of "work" (the seed slept 0-9 seconds). Each thread,
// and each forked worker, seeds its own generator: a forked worker would
// otherwise repeat its parent's sequence.
void nap() {
  thread_local std::mt19937 rng{std::random_device{}()};
  std::uniform_int_distribution<int> ms(1, 20);
  std::this_thread::sleep_for(std::chrono::milliseconds(ms(rng)));
}

// The seed's `Reat.test_ceng(self, args)` returned a dict and a list. A task is a
// plain callable registered by name; a `std::pair` comes back as a two-element
// JSON array. Taking `procpool::task_context&` first is optional: it tells the
// task which tag it is running under, which we echo so that main() can check
// that each tag got its own result back.
std::pair<nlohmann::json, std::vector<std::string>> test_ceng(procpool::task_context& ctx,
                                                              const nlohmann::json& args) {
  nap();
  return {nlohmann::json{{"fdsa", "fdsaf"}, {"tag", ctx.tag()}, {"args", args}}, {"fdsa", "fdsaf"}};
}

// The seed's free function `test_ceng2(id, d=[])`: two parameters, so the
// arguments travel as a two-element array ["id", [...]].
nlohmann::json test_ceng2(const std::string& id, const std::vector<std::string>& d) {
  nap();
  return {{"fdsa2", "fdsaf"}, {"id", id}, {"d_size", d.size()}};
}

}  // namespace

// Register the tasks by name, at namespace scope, in this executable's own
// sources. The same name works in thread mode and in forked workers.
PROCPOOL_TASK(test_ceng, test_ceng);
PROCPOOL_TASK(test_ceng2, test_ceng2);

int main(int argc, char** argv) {
  const procpool::mode m = example::parse_mode(argc, argv, procpool::mode::thread);

  // 1. A pool of at most 10 workers, like ThreadPoolManager(10). Workers start
  //    lazily: only as many as the work needs.
  procpool::pool pool({.mode = m, .workers = 10});

  // 2. Put the tasks in, each under a tag of our choosing. submit() returns at
  //    once with a handle; we do not need the handles here because we will ask
  //    for the results by tag.
  const auto t0 = std::chrono::steady_clock::now();
  const nlohmann::json list = {"1", "23", "132", "3213"};
  (void)pool.submit("test_ceng996", "test_ceng", nlohmann::json::array({list, list}));
  (void)pool.submit("test_ceng997", "test_ceng", nlohmann::json{{"df", "hh"}});
  (void)pool.submit("test_ceng998", "test_ceng", nlohmann::json{{"df", "hh"}});
  (void)pool.submit("test_ceng999", "test_ceng2", nlohmann::json::array({"id-999", list}));
  const std::chrono::duration<double, std::milli> submit_time =
      std::chrono::steady_clock::now() - t0;
  std::cout << "submitted 4 tasks in " << submit_time.count() << " ms\n";

  // 3. close(): no new tasks; the queued ones still run.
  pool.close();

  bool ok = true;

  // 4. Fetch results by tag, in the reverse of the submission order. result()
  //    blocks until that one tag is finished; the entry stays in the pool.
  for (const std::string tag : {"test_ceng999", "test_ceng998", "test_ceng997", "test_ceng996"}) {
    const procpool::result r = pool.result(tag);
    std::cout << tag << " -> " << procpool::to_string(r.state) << ' ' << r.value.dump() << '\n';
    ok &= example::check(r.ok(), tag + " is done");
    if (!r.ok()) continue;
    if (tag == "test_ceng999") {
      ok &= example::check(r.value == nlohmann::json{{"fdsa2", "fdsaf"}, {"id", "id-999"}, {"d_size", 4}},
                  tag + " value");
    } else {
      ok &= example::check(r.value.is_array() && r.value.size() == 2, tag + " is a pair");
      ok &= example::check(r.value.at(0).value("tag", "") == tag, tag + " ran under its own tag");
      ok &= example::check(r.value.at(1) == nlohmann::json{"fdsa", "fdsaf"}, tag + " second half");
    }
  }

  // 5. results(): everything at once, as a map ordered by tag (the seed's
  //    callback() with no tag).
  const auto all = pool.results();
  std::cout << "results(): " << all.size() << " tags\n";
  for (const auto& [tag, r] : all) {
    nlohmann::json line = r;  // procpool::result converts to JSON, as the CLI prints it
    std::cout << "  " << tag << ": " << line.dump() << '\n';
  }
  ok &= example::check(all.size() == 4, "results() holds 4 tags");
  for (const auto& [tag, r] : all) ok &= example::check(r.ok() && r.tag == tag, tag + " in results()");

  // 6. join(): wait for the workers to exit. Required after close(), as in Python.
  pool.join();

  std::cout << (ok ? "OK" : "FAILED") << '\n';
  return ok ? 0 : 1;
}
