#include "run_console.hpp"

#include <cerrno>

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstring>

namespace procpool::cli::detail {

std::string errno_text(int e) { return std::strerror(e); }

bool console::shares_terminal_() noexcept {
  return ::isatty(STDOUT_FILENO) == 1 && ::isatty(STDERR_FILENO) == 1;
}

std::size_t console::terminal_width() noexcept {
  winsize ws{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) != 0) return 0;
  return ws.ws_col;
}

void console::wipe_(std::string& s) {
  if (progress_width_ == 0) return;
  s.push_back('\r');
  s.append(progress_width_, ' ');
  s.push_back('\r');
  progress_width_ = 0;
}

void console::note(const std::string& text) {
  std::lock_guard<std::mutex> lock(m_);
  std::string s;
  wipe_(s);
  s.append(text);
  s.push_back('\n');
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, s.data(), s.size());
}

void console::write_raw(std::string_view text) {
  std::lock_guard<std::mutex> lock(m_);
  std::string s;
  wipe_(s);
  s.append(text);
  std::string_view rest(s);
  while (!rest.empty()) {
    const ssize_t n = ::write(STDERR_FILENO, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // stderr gone: nothing else can tell
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
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
  std::string s;
  wipe_(s);
  if (s.empty()) return;
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, s.data(), s.size());
}

void console::write_err_(const std::string& s) noexcept {
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, s.data(), s.size());
}

std::string fit_to_width(const std::vector<std::string>& parts, const std::vector<std::size_t>& drop,
                         std::size_t width) {
  std::vector<bool> kept(parts.size(), true);
  auto join = [&] {
    std::string line;
    for (std::size_t i = 0; i < parts.size(); ++i) {
      if (!kept[i] || parts[i].empty()) continue;
      if (!line.empty()) line.push_back(' ');
      line += parts[i];
    }
    return line;
  };
  std::string line = join();
  if (width == 0) return line;
  for (const std::size_t i : drop) {
    if (line.size() < width) return line;
    if (i < kept.size()) kept[i] = false;
    line = join();
  }
  if (line.size() >= width) line.resize(width - 1);
  return line;
}

}  // namespace procpool::cli::detail
