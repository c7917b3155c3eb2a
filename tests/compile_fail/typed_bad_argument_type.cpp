// Must NOT compile: a std::string passed for square's int parameter. The
// compile_fail tests expect exactly this error: argument 1, std::string, int.
#include <procpool/procpool.hpp>

#include <string>

namespace {
int square(int x) { return x * x; }
}  // namespace

PROCPOOL_TASK(square, square);

int main() {
  procpool::pool pool;
  const std::string seven = "7";
  return pool.submit("t1", square, seven).get();
}
