// The pool's own messages (a callback that threw, the pool failing): to
// options::diagnostic, or stderr.
#pragma once

#include <procpool/supervisor/options.hpp>

#include <cstdio>
#include <string>

namespace procpool::detail {

inline void diagnose(const options& opts, const std::string& text) noexcept {
  try {
    if (opts.diagnostic) {
      opts.diagnostic(text);
      return;
    }
  } catch (...) {
    // A hook that throws loses its message to stderr, below.
  }
  std::fprintf(stderr, "procpool: %s\n", text.c_str());
}

}  // namespace procpool::detail
