// 06_custom_cli.cpp: your tasks, our runner.
//
// A program that registers its own tasks with PROCPOOL_TASK and hands its
// command line to procpool::cli::main gets the whole `procpool` command over
// them: `run` (JSON Lines in, JSON Lines out, progress, --resume, --joblog,
// --keep-order, time limits and retries, thread or process mode) and `tasks`,
// with the built-in tasks (exec, sleep, primes, echo, sha256) still there.
//
//   $ ./06_custom_cli tasks
//   $ cat jobs.jsonl
//   {"tag":"w1","task":"word_stats","args":"the quick brown fox"}
//   {"tag":"f1","task":"fib","args":30}
//   $ ./06_custom_cli run -j 2 jobs.jsonl
//   {"tag":"f1","state":"done","value":832040,...}
//   {"tag":"w1","state":"done","value":{"chars":19,"longest":"quick","words":4},...}
//
// Link with procpool::cli (it brings procpool::procpool). The exit status is
// the command's: 0 when every line ended done (see docs/cli.md).

#include <cstdint>
#include <procpool/cli.hpp>
#include <procpool/procpool.hpp>
#include <sstream>
#include <stdexcept>
#include <string>

namespace demo {

// 1. A task with a structured result: any type nlohmann::json can convert.
struct word_stats {
  std::size_t words = 0;
  std::size_t chars = 0;
  std::string longest;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(word_stats, words, chars, longest)

word_stats count_words(const std::string& text) {
  word_stats s;
  s.chars = text.size();
  std::istringstream in(text);
  for (std::string w; in >> w;) {
    ++s.words;
    if (w.size() > s.longest.size()) s.longest = w;
  }
  return s;
}

// 2. A CPU-bound task that notices a stop request (terminate(), or a time
//    limit in thread mode, where a thread cannot be killed).
std::uint64_t fib(procpool::task_context& ctx, int n) {
  if (n < 0 || n > 90) throw std::invalid_argument("fib: n must be 0..90");
  std::uint64_t a = 0;
  std::uint64_t b = 1;
  for (int i = 0; i < n; ++i) {
    if (ctx.stop_requested()) throw std::runtime_error("fib: stopped");
    const std::uint64_t next = a + b;
    a = b;
    b = next;
  }
  return a;
}

}  // namespace demo

// 3. Registration by name, at namespace scope in this program's own .cpp.
//    A line {"task": "word_stats", "args": "some text"} passes the one argument;
//    {"task": "add", "args": [2, 3]} passes two.
PROCPOOL_TASK(word_stats, demo::count_words);
PROCPOOL_TASK(fib, demo::fib);
PROCPOOL_TASK(add, [](std::int64_t a, std::int64_t b) { return a + b; });

// 4. The whole command, with these tasks and the built-in ones.
int main(int argc, char** argv) { return procpool::cli::main(argc, argv); }
