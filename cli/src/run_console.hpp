// `procpool run`'s standard error: notes (one line each) and the progress line
// they share the terminal with.
//
// Owns: the stderr writes and the width of the progress line on screen.
// Threads: any (main, the pool's callback thread, the control thread); every
// write happens under the console's own mutex, which is taken last: nothing
// else is locked from inside it (the result sink's mutex may be held around a
// note, never the other way round).
#pragma once

#include <cstddef>
#include <mutex>
#include <string>

namespace procpool::cli::detail {

/// strerror(e) as a string.
[[nodiscard]] std::string errno_text(int e);

class console {
 public:
  /// Writes `text` and a newline, first wiping the progress line if one is shown.
  void note(const std::string& text);
  /// Shows `line` as the progress line ("\r" + line, padded over a longer
  /// previous one).
  void show_progress(const std::string& line);
  /// Wipes the progress line, if one is shown.
  void clear_progress();

 private:
  std::mutex m_;
  std::size_t progress_width_ = 0;  // guarded by m_; 0: no progress line on screen
};

}  // namespace procpool::cli::detail
