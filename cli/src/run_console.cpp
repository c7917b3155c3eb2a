#include "run_console.hpp"

#include <unistd.h>

#include <cstring>

namespace procpool::cli::detail {

std::string errno_text(int e) { return std::strerror(e); }

void console::note(const std::string& text) {
  std::lock_guard<std::mutex> lock(m_);
  std::string s;
  if (progress_width_ != 0) {
    s.push_back('\r');
    s.append(progress_width_, ' ');
    s.push_back('\r');
    progress_width_ = 0;
  }
  s.append(text);
  s.push_back('\n');
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, s.data(), s.size());
}

void console::show_progress(const std::string& line) {
  std::lock_guard<std::mutex> lock(m_);
  std::string s = "\r";
  s += line;
  if (line.size() < progress_width_) s.append(progress_width_ - line.size(), ' ');
  progress_width_ = line.size();
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, s.data(), s.size());
}

void console::clear_progress() {
  std::lock_guard<std::mutex> lock(m_);
  if (progress_width_ == 0) return;
  std::string s = "\r";
  s.append(progress_width_, ' ');
  s.push_back('\r');
  progress_width_ = 0;
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, s.data(), s.size());
}

}  // namespace procpool::cli::detail
