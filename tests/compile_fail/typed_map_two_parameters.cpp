// Must NOT compile: the typed map takes one-parameter tasks only.
#include <procpool/procpool.hpp>

#include <vector>

PROCPOOL_TASK(add, [](int a, int b) { return a + b; });

int main() {
  procpool::pool pool;
  return static_cast<int>(pool.map(add_task, std::vector<int>{1, 2}).size());
}
