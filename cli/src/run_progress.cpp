#include "run_progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <optional>
#include <vector>

namespace procpool::cli::detail {

namespace {

std::string format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e9) return "?";
  const auto s = static_cast<std::int64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>((s / 60) % 60), static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  }
  return buf;
}

/// [#########...........] 45%
std::string bar(double frac) {
  constexpr int width = 20;
  const int filled = static_cast<int>(frac * width);
  std::string s = "[";
  s.append(static_cast<std::size_t>(filled), '#');
  s.append(static_cast<std::size_t>(width - filled), '.');
  s += "] " + std::to_string(static_cast<int>(100.0 * frac)) + "%";
  return s;
}

}  // namespace

progress_display::progress_display(const run_options& o, const run_counters& counters, console& err)
    : o_(o), c_(counters), err_(err) {
  enabled_ = o_.progress == 1 || (o_.progress == -1 && !o_.quiet && ::isatty(STDERR_FILENO) == 1);
}

void progress_display::draw() {
  if (enabled_) err_.show_progress(line_());
}

void progress_display::clear() {
  if (enabled_) err_.clear_progress();
}

std::string progress_display::line_() const {
  const std::uint64_t bad = c_.bad();
  const std::uint64_t finished = c_.done + bad;
  const std::uint64_t read = c_.lines_read - c_.skipped;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - c_.started).count();
  const double rate = elapsed > 0 ? static_cast<double>(finished) / elapsed : 0.0;
  // The total: exact once the input is read, or from the start for a command
  // template (less what --resume skips); estimated from the bytes read of a
  // regular file before that; unknown otherwise.
  std::optional<double> total;
  bool estimate = false;
  if (c_.input_done) {
    total = static_cast<double>(read);
  } else if (job_count_ > 0) {
    total = static_cast<double>(job_count_ - std::min<std::uint64_t>(job_count_, c_.skipped));
  } else if (input_size_ > 0 && c_.bytes_read > 0) {
    total = static_cast<double>(read) * static_cast<double>(input_size_) /
            static_cast<double>(c_.bytes_read.load());
    estimate = true;
  }
  // The parts, in display order; fit_to_width drops the bar first, then the
  // rate, the ETA and the name, and keeps the counts (what a narrow terminal
  // most needs).
  enum { name, bar_part, count, rate_part, eta, failures, n_parts };
  std::vector<std::string> parts(n_parts);
  parts[name] = "procpool";
  if (total && *total > 0) {
    parts[bar_part] = bar(std::clamp(static_cast<double>(finished) / *total, 0.0, 1.0));
  }
  parts[count] = std::to_string(finished) + "/";
  if (total) {
    if (estimate) parts[count] += "~";
    parts[count] += std::to_string(static_cast<std::uint64_t>(*total + 0.5));
  } else {
    parts[count] += std::to_string(read) + "+";
  }
  char rate_text[48];
  std::snprintf(rate_text, sizeof rate_text, "%.1f/s", rate);
  parts[rate_part] = rate_text;
  if (total && rate > 0 && finished > 0) {
    parts[eta] = "ETA " + format_duration((*total - static_cast<double>(finished)) / rate);
  }
  if (bad != 0) parts[failures] = "failed " + std::to_string(bad);
  return fit_to_width(parts, {bar_part, rate_part, eta, name}, console::terminal_width());
}

std::string progress_display::summary(double wall, int signal, bool broken_pipe) const {
  const std::uint64_t bad = c_.bad();
  const std::uint64_t finished = c_.done + bad;
  std::string s = "procpool: " + std::to_string(finished) + " task" + (finished == 1 ? "" : "s") +
                  ": " + std::to_string(c_.done.load()) + " done";
  auto add = [&](std::uint64_t n, const char* what) {
    if (n != 0) s += ", " + std::to_string(n) + " " + what;
  };
  add(c_.failed, "failed");
  add(c_.timed_out, "timed_out");
  add(c_.crashed, "crashed");
  add(c_.cancelled, "cancelled");
  add(c_.rejected, "rejected");
  add(c_.skipped, "skipped (done in an earlier run)");
  add(c_.truncated, "with output truncated");
  char tail[96];
  std::snprintf(tail, sizeof tail, " in %.3f s (%.1f tasks/s)", wall,
                wall > 0 ? static_cast<double>(finished) / wall : 0.0);
  s += tail;
  if (signal != 0) {
    s += signal == SIGINT ? "; interrupted (SIGINT)"
         : signal == SIGUSR1 ? "; stopped (SIGUSR1)"
                             : "; interrupted (SIGTERM)";
  }
  if (broken_pipe) s += "; output closed by its reader";
  return s;
}

}  // namespace procpool::cli::detail
