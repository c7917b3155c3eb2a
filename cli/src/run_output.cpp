#include "run_output.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <procpool/shared/detail/posix.hpp>

#include "results_dir.hpp"
#include "run_resume.hpp"

namespace procpool::cli::detail {

using procpool::detail::unique_fd;

result_sink::result_sink(const run_options& o, console& err, stop_control& stop)
    : o_(o), err_(err), stop_(stop) {
  window_ =
      std::max<std::uint64_t>(4096, 4 * (o_.max_queue + static_cast<std::uint64_t>(o_.workers)));
  if (o_.keep_order) {
    held_.resize(window_);
    held_present_.assign(window_, 0);
  }
}

bool result_sink::open_output(tag_set& done) {
  if (o_.stdout_mode) {
    out_ = fd_writer(STDOUT_FILENO, false);
    return o_.output.empty() || open_file_(done, record_);
  }
  if (o_.output.empty()) {
    out_ = fd_writer(STDOUT_FILENO, false);
    return true;
  }
  return open_file_(done, out_);
}

// --output into `into`.
bool result_sink::open_file_(tag_set& done, fd_writer& into) {
  if (&into == &out_) out_name_ = "'" + o_.output + "'";
  const int flags = O_CLOEXEC | (o_.resume ? (O_RDWR | O_CREAT) : (O_WRONLY | O_CREAT | O_TRUNC));
  unique_fd fd(::open(o_.output.c_str(), flags, 0666));
  if (fd.get() < 0) {
    err_.note("procpool: cannot open the output '" + o_.output + "': " + errno_text(errno));
    return false;
  }
  if (o_.resume && !prepare_resume(fd.get(), o_.output, done, err_)) return false;
  into = fd_writer(fd.release(), true);
  return true;
}

bool result_sink::open_joblog() {
  if (o_.joblog.empty()) return true;
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (o_.resume ? O_APPEND : O_TRUNC);
  unique_fd fd(::open(o_.joblog.c_str(), flags, 0666));
  if (fd.get() < 0) {
    err_.note("procpool: cannot open the joblog '" + o_.joblog + "': " + errno_text(errno));
    return false;
  }
  struct stat st {};
  const bool empty = ::fstat(fd.get(), &st) == 0 && st.st_size == 0;
  joblog_ = fd_writer(fd.release(), true);
  if (empty) joblog_.write(joblog_header);
  return true;
}

// Under m_.
void result_sink::put_(std::string_view s, bool& pipe_now, bool& failed_now) {
  if (s.empty()) return;
  // A terminal's stdout is written at once (fd_writer): under the console, so
  // that the line never lands on the progress line's tail.
  const bool to_stdout = o_.output.empty() || o_.stdout_mode;
  const bool ok = to_stdout ? err_.write_stdout([&] { return out_.write(s); }) : out_.write(s);
  if (ok || out_.error() == 0) return;
  if (out_.error() == EPIPE) {
    pipe_now = !broken_pipe_.exchange(true);
  } else {
    failed_now = !output_failed_.exchange(true);
  }
}

// Under m_: writes `text` if `line` is next, then every held line that follows
// it; otherwise holds `text` back.
void result_sink::put_in_order_(std::uint64_t line, std::string_view text, bool& pipe_now,
                                bool& failed_now) {
  if (line != next_emit_) {
    const std::size_t slot = line % held_.size();
    held_[slot].assign(text);
    held_present_[slot] = 1;
    return;
  }
  put_(text, pipe_now, failed_now);
  ++next_emit_;
  for (;;) {
    const std::size_t slot = next_emit_ % held_.size();
    if (held_present_[slot] == 0) break;
    put_(held_[slot], pipe_now, failed_now);
    held_[slot].clear();
    held_present_[slot] = 0;
    ++next_emit_;
  }
  if (window_waiting_) window_cv_.notify_one();
}

// Under m_. Every result line goes out as soon as it is formatted, so a run
// killed outright (SIGKILL, a crash of this process) loses only the tasks still
// running, and --resume reruns nothing that finished. One write per emit; the
// buffer still gathers what --keep-order releases at once.
void result_sink::write_through_(bool& pipe_now, bool& failed_now) {
  if (out_.pending() && !out_.flush() && out_.error() != 0) {
    if (out_.error() == EPIPE) {
      pipe_now = !broken_pipe_.exchange(true);
    } else {
      failed_now = !output_failed_.exchange(true);
    }
  }
  if (record_.pending() && !record_.flush() && record_.error() != 0) {
    failed_now = !output_failed_.exchange(true);
  }
  if (joblog_.pending()) joblog_.flush();
}

void result_sink::emit(std::uint64_t line, std::string_view text, std::string_view joblog_text,
                       std::string_view record) {
  bool failed_now = false;
  bool pipe_now = false;
  {
    std::lock_guard<std::mutex> lock(m_);
    if (!joblog_text.empty()) joblog_.write(joblog_text);
    if (!record.empty() && record_.valid()) record_.write(record);
    if (o_.keep_order) {
      put_in_order_(line, text, pipe_now, failed_now);
    } else {
      put_(text, pipe_now, failed_now);
    }
    write_through_(pipe_now, failed_now);
  }
  if (pipe_now) {
    stop_.request(2);
  } else if (failed_now) {
    const bool out_failed = out_.error() != 0;
    err_.note("procpool: cannot write to " + (out_failed ? out_name_ : "'" + o_.output + "'") +
              ": " + errno_text(out_failed ? out_.error() : record_.error()) + "; stopping");
    stop_.request(2);
  }
}

void result_sink::write_job_result(std::string_view tag, std::string_view text) {
  if (results_dir().empty()) return;
  const std::string error = detail::write_job_result(tag, text);
  if (error.empty() || results_failed_.exchange(true)) return;
  output_failed_ = true;
  err_.note("procpool: --results: " + error);
}

void result_sink::wait_window(std::uint64_t line) {
  std::unique_lock<std::mutex> lock(m_);
  if (line - next_emit_ < window_) return;
  window_waiting_ = true;
  window_cv_.wait(lock, [&] { return line - next_emit_ < window_; });
  window_waiting_ = false;
}

void result_sink::periodic_flush() {
  std::lock_guard<std::mutex> lock(m_);
  const auto now = std::chrono::steady_clock::now();
  if (now - last_flush_ < tick) return;
  last_flush_ = now;
  if (out_.pending() && !out_.flush() && out_.error() == EPIPE && !broken_pipe_.exchange(true)) {
    stop_.request(2);
  }
  if (record_.pending()) record_.flush();
  if (joblog_.pending()) joblog_.flush();
}

void result_sink::finish() {
  std::lock_guard<std::mutex> lock(m_);
  if (record_.valid() && !record_.flush() && !output_failed_.exchange(true)) {
    err_.note("procpool: cannot write to '" + o_.output + "': " + errno_text(record_.error()));
  }
  if (!out_.flush() && out_.error() != 0) {
    if (out_.error() == EPIPE) {
      broken_pipe_ = true;
    } else if (!output_failed_.exchange(true)) {
      err_.note("procpool: cannot write to " + out_name_ + ": " + errno_text(out_.error()));
    }
  }
  if (joblog_.valid() && !joblog_.flush() && joblog_.error() != 0) {
    err_.note("procpool: cannot write the joblog '" + o_.joblog +
              "': " + errno_text(joblog_.error()));
    output_failed_ = true;
  }
}

}  // namespace procpool::cli::detail
