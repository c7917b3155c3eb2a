// The `procpool` executable: the command over the built-in tasks.
#include <procpool/cli.hpp>

int main(int argc, char** argv) { return procpool::cli::main(argc, argv); }
