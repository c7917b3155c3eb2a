// The main of every procpool test executable.
//
// It begins with the spawn start method's hook: a test that uses
// start_method::spawn starts this same executable as its workers.
//
// Death tests must use the "threadsafe" style: the pool runs threads (and, in
// process mode, forks), and the default "fast" style forks a copy of a
// multithreaded process.
#include <procpool/worker/worker_main.hpp>

#include <gtest/gtest.h>

int main(int argc, char** argv) {
  procpool::run_worker_if_requested(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  return RUN_ALL_TESTS();
}
