#include <procpool/procpool.hpp>

#include <iostream>
#include <optional>
#include <string>

// Tasks are registered at namespace scope, before any pool exists.
PROCPOOL_TASK(visit, [](procpool::task_context& ctx, const std::string& url) {
  ctx.array<long>("hits").fetch_add(url.size() % 8, 1);  // atomic
  ctx.dict("seen").update_with(url, [](std::optional<nlohmann::json> n) {
    return nlohmann::json(n ? n->get<int>() + 1 : 1);    // runs under the dict's lock
  });
  procpool::held_lock g = ctx.lock("guard").hold();      // like `with lock:`
  if (g.owner_died()) { /* a worker died holding it: the data may be half updated */ }
});

int main() {
  procpool::pool pool({.mode = procpool::mode::process, .workers = 4});
  auto hits  = pool.make_array<long>("hits", 8);          // Array('l', 8)
  auto seen  = pool.make_dict("seen", 10'000);             // Manager().dict(), 10k entries
  [[maybe_unused]] auto jobs  = pool.make_queue("jobs", 100);   // Queue(maxsize=100)
  [[maybe_unused]] auto go    = pool.make_event("go");          // Event()
  [[maybe_unused]] auto guard = pool.make_lock("guard");        // Lock(); make_rlock for RLock()

  int n = 0;
  for (const char* url : {"a.example", "b.example", "a.example"}) {
    (void)pool.submit("visit-" + std::to_string(n++), "visit", url);
  }
  pool.close();
  pool.join();
  std::cout << "a.example seen " << seen.get("a.example")->get<int>() << " times, hits[1] = " << hits[1]
            << "\n";
  return seen.get("a.example")->get<int>() == 2 ? 0 : 1;
}
