// The main of every procpool test executable.
//
// Death tests must use the "threadsafe" style: the pool runs threads (and, in
// process mode, forks), and the default "fast" style forks a copy of a
// multithreaded process.
#include <gtest/gtest.h>

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  return RUN_ALL_TESTS();
}
