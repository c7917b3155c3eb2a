// Family 9: the `procpool run` command against xargs -P running the same
// short commands: --items jobs (default 2000, quick 200) of `true N`
// (N = 1, 2, ...), two at a time, each repetition a fresh command:
//
//   run_exec_true    procpool run -j 2 -q -- true {} :::: FILE
//                    (process mode; the result lines go to /dev/null)
//   xargs_exec_true  the peer, run just before it in every repetition:
//                    xargs -P 2 -n 1 -a FILE true
//
// Both in milliseconds, wall time of the whole command from spawn to reaped
// (the procpool command's own start-up and the exec of every job included).
// run_exec_true carries xargs as its peer. The procpool command is the one
// this build made (PROCPOOL_BENCH_CLI).
#include "harness.hpp"
#include "peer_process.hpp"

#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#ifndef PROCPOOL_BENCH_CLI
#error "PROCPOOL_BENCH_CLI must name the procpool command (bench/CMakeLists.txt defines it)"
#endif

namespace {

/// A temporary directory holding the job list (1..n, one per line), removed
/// when the program ends.
class job_list {
 public:
  explicit job_list(std::uint64_t n) {
    char tmpl[] = "/tmp/procpool-bench-run.XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::system_error(errno, std::generic_category(), "mkdtemp");
    dir_ = tmpl;
    path_ = dir_ + "/jobs.txt";
    std::ofstream f(path_);
    for (std::uint64_t i = 1; i <= n; ++i) f << i << '\n';
    if (!f.flush()) throw std::runtime_error("cannot write " + path_);
  }
  job_list(const job_list&) = delete;
  job_list& operator=(const job_list&) = delete;
  ~job_list() {
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  std::string dir_;
  std::string path_;
};

}  // namespace

int main(int argc, char** argv) {
  return bench::guarded_main([&] {
    const bench::config cfg = bench::parse_args(argc, argv);
    const std::uint64_t n = cfg.items_or(2000, 200);
    const int runs = cfg.runs_or(5, 2);
    const job_list jobs(n);
    const std::string xargs = bench::find_program("xargs");
    const std::string true_cmd = bench::find_program("true");
    if (true_cmd.empty()) throw std::runtime_error("no `true` on PATH");
    const nlohmann::json extra = {{"workers", 2}, {"items", n}};
    std::vector<bench::bench_case> cases;
    cases.push_back({"process", extra, {{"xargs_exec_true", "ms"}},
                     [&] {
                       return std::vector<double>{
                           1e3 * bench::time_command({xargs, "-P", "2", "-n", "1", "-a", jobs.path(), true_cmd})};
                     },
                     xargs.empty() ? "xargs not found on PATH" : ""});
    cases.push_back({"process", extra, {{"run_exec_true", "ms", {}, {{"xargs_exec_true", "xargs -P 2 -n 1", false}}}},
                     [&] {
                       return std::vector<double>{1e3 * bench::time_command({PROCPOOL_BENCH_CLI, "run", "-j", "2", "-q",
                                                                             "--", "true", "{}", "::::", jobs.path()})};
                     }});
    bench::run_interleaved(cases, runs, cfg);
  });
}
