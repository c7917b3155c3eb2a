// What the MPI backend's test programs share: a CHECK that counts failures
// (each program runs under mpiexec, so there is no gtest runner), bounded
// waits for a condition, and the pool options every test starts from.
#pragma once

#include <procpool/procpool.hpp>
#include <procpool/supervisor/mpi.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>

namespace procpool_mpi_test {

inline int& failures() {
  static int n = 0;
  return n;
}

#define PROCPOOL_MPI_CHECK(cond)                                                         \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);      \
      ++::procpool_mpi_test::failures();                                                 \
    }                                                                                    \
  } while (0)

/// The multiplier for waits (PROCPOOL_TEST_TIMEOUT_MULTIPLIER), at least 1.
inline int multiplier() {
  const char* v = std::getenv("PROCPOOL_TEST_TIMEOUT_MULTIPLIER");
  const int m = v != nullptr ? std::atoi(v) : 1;
  return m > 0 ? m : 1;
}

/// Polls `cond` until it holds or `limit` (times the multiplier) passes.
inline bool wait_until(const std::function<bool()>& cond, std::chrono::seconds limit = std::chrono::seconds(30)) {
  const auto until = std::chrono::steady_clock::now() + limit * multiplier();
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

/// One worker per rank, the MPI backend.
inline procpool::options mpi_options() {
  procpool::options o;
  o.backend = procpool::backend_kind::mpi;
  o.workers = 1;
  o.mpi_prefetch = 1;
  return o;
}

/// The program's exit code: 0 when every CHECK held.
inline int finish(const char* name) {
  if (failures() == 0) {
    std::printf("%s: passed\n", name);
    return 0;
  }
  std::fprintf(stderr, "%s: %d check(s) failed\n", name, failures());
  return 1;
}

}  // namespace procpool_mpi_test
