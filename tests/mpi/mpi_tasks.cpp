// Tasks of the MPI backend's tests (every rank runs the same program, so every
// rank has them).
#include <procpool/procpool.hpp>

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>

namespace {

/// Waits (as work, polling) until `path` exists; 1, or throws after 60 s.
int wait_for_file(const std::string& path) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (::access(path.c_str(), F_OK) != 0) {
    if (std::chrono::steady_clock::now() >= until) throw std::runtime_error("wait_for_file: timed out");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return 1;
}

/// Writes this worker's pid to `path`, then hangs until killed.
int publish_pid_and_hang(const std::string& path) {
  {
    std::ofstream tmp(path + ".tmp");
    tmp << ::getpid() << "\n";
  }
  std::rename((path + ".tmp").c_str(), path.c_str());
  for (;;) std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

}  // namespace

PROCPOOL_TASK(mpi_square, [](int x) { return x * x; });
PROCPOOL_TASK(mpi_sleep_ms, [](int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
});
PROCPOOL_TASK(mpi_segfault, []() -> int {
  std::raise(SIGSEGV);
  return 0;
});
PROCPOOL_TASK(mpi_throw, [](const std::string& msg) -> int { throw std::runtime_error(msg); });
PROCPOOL_TASK(mpi_wait_for_file, wait_for_file);
PROCPOOL_TASK(mpi_publish_pid_and_hang, publish_pid_and_hang);
