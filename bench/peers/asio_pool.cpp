// The thread-mode peer of procpool_bench_submit: boost::asio::thread_pool
// running the same trivial task (square), submitted one by one with
// boost::asio::post and a std::future each (asio::use_future), then every
// future's get() in order, as submit_all does with task handles.
//
//   procpool_peer_asio --items N [--workers W]
//
// Prints one JSON array on stdout: [tasks per second]. The pool's threads are
// started and have each run a task before the clock starts (the procpool side
// is warmed up too). Exits non-zero if a result is wrong.
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <future>
#include <string>
#include <vector>

namespace {

std::int64_t square(std::int64_t x) { return x * x; }

struct args {
  std::uint64_t items = 20'000;
  int workers = 2;
};

args parse(int argc, char** argv) {
  args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--items") == 0) {
      a.items = std::stoull(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--workers") == 0) {
      a.workers = std::stoi(argv[i + 1]);
    }
  }
  return a;
}

std::future<std::int64_t> submit(boost::asio::thread_pool& pool, std::int64_t x) {
  return boost::asio::post(pool, boost::asio::use_future([x] { return square(x); }));
}

}  // namespace

int main(int argc, char** argv) {
  const args a = parse(argc, argv);
  boost::asio::thread_pool pool(static_cast<std::size_t>(a.workers));
  {
    std::vector<std::future<std::int64_t>> warm;
    for (int i = 0; i < 16 * a.workers; ++i) warm.push_back(submit(pool, i));
    for (auto& f : warm) (void)f.get();
  }
  std::vector<std::future<std::int64_t>> futures;
  futures.reserve(a.items);
  const auto t0 = std::chrono::steady_clock::now();
  for (std::uint64_t i = 0; i < a.items; ++i) futures.push_back(submit(pool, static_cast<std::int64_t>(i)));
  for (std::uint64_t i = 0; i < a.items; ++i) {
    const auto x = static_cast<std::int64_t>(i);
    if (futures[i].get() != x * x) {
      std::fprintf(stderr, "procpool_peer_asio: CHECK FAILED: square(%lld)\n", static_cast<long long>(x));
      return 1;
    }
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  pool.join();
  std::printf("[%.6g]\n", static_cast<double>(a.items) / s);
  return 0;
}
