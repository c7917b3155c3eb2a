// Two helpers the examples share: a result check and the --mode flag.
#pragma once

#include <procpool/procpool.hpp>

#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

namespace example {

/// Prints "CHECK FAILED: <what>" when `ok` is false; returns `ok`.
inline bool check(bool ok, const std::string& what) {
  if (!ok) std::cerr << "CHECK FAILED: " << what << '\n';
  return ok;
}

/// `--mode thread|process` (or `--mode=...`) from the command line, else `fallback`.
inline procpool::mode parse_mode(int argc, char** argv, procpool::mode fallback) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    std::string_view v;
    if (a == "--mode" && i + 1 < argc) {
      v = argv[++i];
    } else if (a.starts_with("--mode=")) {
      v = a.substr(7);
    } else {
      continue;
    }
    if (v == "thread") return procpool::mode::thread;
    if (v == "process") return procpool::mode::process;
    std::cerr << "unknown mode '" << v << "' (thread or process)\n";
    std::exit(2);
  }
  return fallback;
}

}  // namespace example
