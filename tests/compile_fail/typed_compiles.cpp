// The control of the compile_fail tests: the same harness on calls that are
// right must compile, so a failure above is the check's and not the harness's.
#include <procpool/procpool.hpp>

#include <string>
#include <vector>

namespace {
int square(int x) { return x * x; }
}  // namespace

PROCPOOL_TASK(square, square);
PROCPOOL_TASK(add, [](int a, int b) { return a + b; });

int main() {
  procpool::pool pool;
  int v = pool.submit("t1", square, 7).get() + pool.apply("t2", add_task, 2, 3);
  for (const int x : pool.map(square_task, std::vector<int>{1, 2})) v += x;
  return v;
}
