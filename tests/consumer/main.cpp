// Runs one task in process mode through an installed (or added) procpool.
#include <procpool/procpool.hpp>
#include <procpool/worker/worker_main.hpp>

#include <iostream>

PROCPOOL_TASK(triple, [](int x) { return 3 * x; });

int main(int argc, char** argv) {
  procpool::run_worker_if_requested(argc, argv);
  int bad = 0;
  for (const auto start : {procpool::start_method::fork_server, procpool::start_method::spawn}) {
    procpool::pool pool(procpool::options{}.with_workers(2).with_start(start));
    const int v = pool.apply("t", "triple", 14).get<int>();
    const auto all = pool.map("triple", std::vector<int>{1, 2, 3});
    pool.close();
    pool.join();
    std::cout << "triple(14) = " << v << ", map = " << nlohmann::json(all) << '\n';
    if (v != 42 || all != std::vector<nlohmann::json>{3, 6, 9}) bad = 1;
  }
  return bad;
}
