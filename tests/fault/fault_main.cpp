// The main of the fault test executables: helpers/test_main.cpp plus the hook
// that lets the executable serve as its own worker program
// (options::start == start_method::spawn runs /proc/self/exe).
//
// Death tests must use the "threadsafe" style: the pool runs threads (and, in
// process mode, forks), and the default "fast" style forks a copy of a
// multithreaded process.
#include <procpool/procpool.hpp>
#include <procpool/worker/worker_main.hpp>

#include <gtest/gtest.h>

int main(int argc, char** argv) {
  procpool::run_worker_if_requested(argc, argv);  // returns at once unless spawned as a worker
  ::testing::InitGoogleTest(&argc, argv);
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  return RUN_ALL_TESTS();
}
