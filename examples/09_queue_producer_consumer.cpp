// 09_queue_producer_consumer.cpp: producers and consumers in different workers,
// joined by a shared queue with Python's queue.Queue semantics.
//
// The second seed note's producer/consumer model and queue.Queue API:
//
//     q = queue.Queue(maxsize)       # put() blocks while full, get() while empty
//     q.put(item); q.get()           # FIFO
//     q.task_done(); q.join()        # join() returns once every item is done
//     # its thread pool ends each worker with a StopEvent sentinel
//
// Here two producer tasks put "goods" into a bounded shared queue, two consumer
// tasks take them until they see the sentinel (null), and the supervisor waits
// with q.join() until every good was processed, then sends one sentinel per
// consumer. An event starts the producers together.
//
// Run: ./09_queue_producer_consumer [--mode thread|process]   (default: process)
// Exits 0 only if every good was consumed exactly once.

#include <procpool/procpool.hpp>

#include "example_util.hpp"

#include <chrono>
#include <cstdlib>
#include <iostream>
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

constexpr int producers = 2;
constexpr int consumers = 2;
constexpr int goods_per_producer = 500;

// A producer: waits for the start signal, then puts its goods. put() blocks
// while the queue holds maxsize items: the consumers set the pace.
int produce(procpool::task_context& ctx, int id) {
  procpool::shared_queue q = ctx.queue("goods");
  if (!ctx.event("start").wait(std::chrono::seconds(30))) return -1;
  for (int n = 1; n <= goods_per_producer; ++n) {
    q.put(nlohmann::json{{"producer", id}, {"n", n}});
  }
  return goods_per_producer;
}

// A consumer: takes goods until the sentinel, marking each one done. Returns
// how many it took and the sum of their numbers (to check nothing was lost or
// duplicated).
nlohmann::json consume(procpool::task_context& ctx) {
  procpool::shared_queue q = ctx.queue("goods");
  long taken = 0;
  long sum = 0;
  for (;;) {
    const nlohmann::json item = q.get();  // blocks while the queue is empty
    if (item.is_null()) {                 // the seed's StopEvent
      q.task_done();
      break;
    }
    sum += item.at("n").get<long>();
    ++taken;
    q.task_done();
  }
  return {{"taken", taken}, {"sum", sum}};
}

}  // namespace

PROCPOOL_TASK(produce, produce);
PROCPOOL_TASK(consume, consume);

int main(int argc, char** argv) {
  const procpool::mode m = example::parse_mode(argc, argv, procpool::mode::process);
  // Producers and consumers block on each other: they must all run at once, so
  // the pool needs a worker for each.
  procpool::pool pool({.mode = m, .workers = producers + consumers});
  bool ok = true;

  // 1. queue.Queue(maxsize=10), and an event to start the producers together.
  procpool::shared_queue q = pool.make_queue("goods", 10);
  procpool::event start = pool.make_event("start");

  // 2. Start the consumers, then the producers (they wait for `start`).
  std::vector<procpool::task_handle> cons;
  std::vector<procpool::task_handle> prods;
  for (int c = 0; c < consumers; ++c) cons.push_back(pool.submit(numbered("consumer-", c), "consume"));
  for (int p = 0; p < producers; ++p) prods.push_back(pool.submit(numbered("producer-", p), "produce", p));
  start.set();

  // 3. Every producer finished putting; q.join() then waits until every good
  //    put so far was taken *and* marked done by a consumer.
  for (auto& h : prods) ok &= example::check(h.get() == goods_per_producer, "a producer put all its goods");
  q.join();
  std::cout << "q.join() returned: every good was processed; qsize() = " << q.qsize() << '\n';
  ok &= example::check(q.empty() && q.unfinished_tasks() == 0, "nothing left in the queue");

  // 4. One sentinel per consumer, as the seed's close() put one StopEvent per thread.
  for (int c = 0; c < consumers; ++c) q.put(nullptr);
  long taken = 0;
  long sum = 0;
  for (auto& h : cons) {
    const nlohmann::json r = h.get();
    std::cout << "a consumer took " << r.at("taken") << " goods\n";
    taken += r.at("taken").get<long>();
    sum += r.at("sum").get<long>();
  }
  const long expected_sum = producers * (goods_per_producer * (goods_per_producer + 1L) / 2);
  ok &= example::check(taken == producers * goods_per_producer, "every good taken once");
  ok &= example::check(sum == expected_sum, "no good lost or duplicated");
  q.join();  // the sentinels were marked done too

  // 5. The non-blocking forms raise Python's Full / Empty as procpool errors.
  try {
    (void)q.get_nowait();
    ok &= example::check(false, "get_nowait on an empty queue throws");
  } catch (const procpool::error& e) {
    std::cout << "as expected: " << e.what() << '\n';  // errc::timeout, "queue 'goods' empty"
    ok &= example::check(e.code_value() == procpool::errc::timeout, "empty is errc::timeout");
  }

  pool.close();
  pool.join();
  std::cout << (ok ? "OK" : "FAILED") << '\n';
  return ok ? 0 : 1;
}
