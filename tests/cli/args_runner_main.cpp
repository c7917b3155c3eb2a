// The `procpool` command over tasks of its own, for cli_args_test: one
// container parameter (sum), one scalar (square), two parameters (add).
#include <procpool/cli.hpp>
#include <procpool/procpool.hpp>

#include <vector>

PROCPOOL_TASK(sum, [](const std::vector<int>& v) {
  int total = 0;
  for (const int x : v) total += x;
  return total;
});
PROCPOOL_TASK(square, [](int x) { return x * x; });
PROCPOOL_TASK(add, [](int a, int b) { return a + b; });

int main(int argc, char** argv) { return procpool::cli::main(argc, argv); }
