// `procpool run`'s standard error: notes (one line each) and the progress line
// they share the terminal with.
//
// Owns: the stderr writes and the width of the progress line on screen, which
// it wipes before a note, and before a result line when stdout is a terminal too.
// Threads: any (main, the pool's callback thread, the control thread); every
// write happens under the console's own mutex, which is taken last: nothing
// else is locked from inside it (the result sink's mutex may be held around a
// note, never the other way round).
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace procpool::cli::detail {

/// strerror(e) as a string.
[[nodiscard]] std::string errno_text(int e);

class console {
 public:
  /// Writes `text` and a newline, first wiping the progress line if one is shown.
  void note(const std::string& text);
  /// Writes `text` as it is (a job's stderr under --stdout), first wiping the
  /// progress line if one is shown.
  void write_raw(std::string_view text);
  /// Shows `line` as the progress line ("\r" + line, padded over a longer
  /// previous one).
  void show_progress(const std::string& line);
  /// Wipes the progress line, if one is shown.
  void clear_progress();
  /// Calls `write`, which writes to standard output, after wiping the progress
  /// line when standard output is on a terminal too (else the line would be
  /// written over the progress line's tail); the next tick draws it again.
  /// The console's mutex is held throughout, so no redraw comes in between.
  template <class Write>
  decltype(auto) write_stdout(Write&& write) {
    std::lock_guard<std::mutex> lock(m_);
    if (stdout_shares_terminal_ && progress_width_ != 0) {
      std::string s;
      wipe_(s);
      write_err_(s);
    }
    return write();
  }

  /// The terminal's width in columns (TIOCGWINSZ on standard error), 0 when
  /// standard error is not a terminal or does not know its size.
  [[nodiscard]] static std::size_t terminal_width() noexcept;

 private:
  std::mutex m_;
  std::size_t progress_width_ = 0;  // guarded by m_; 0: no progress line on screen
  // Both on a terminal: asked once, the descriptors do not change during a run.
  const bool stdout_shares_terminal_ = shares_terminal_();

  static bool shares_terminal_() noexcept;
  void wipe_(std::string& s);  // under m_
  static void write_err_(const std::string& s) noexcept;
};

/// `parts`, joined by spaces, fitted to a terminal `width` columns wide: parts
/// are dropped from the least to the most important (the order of `drop`,
/// indices into `parts`) until the line is narrower than the terminal, and a
/// line still too wide is cut. Narrower, not equal: a full-width line makes
/// some terminals wrap, and then "\r" redraws on a new line each time. A
/// width of 0 (unknown) keeps every part.
[[nodiscard]] std::string fit_to_width(const std::vector<std::string>& parts,
                                       const std::vector<std::size_t>& drop, std::size_t width);

}  // namespace procpool::cli::detail
