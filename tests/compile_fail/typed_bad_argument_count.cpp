// Must NOT compile: add takes two arguments, the call gives one.
#include <procpool/procpool.hpp>

PROCPOOL_TASK(add, [](int a, int b) { return a + b; });

int main() {
  procpool::pool pool;
  return pool.apply("t1", add_task, 2);
}
