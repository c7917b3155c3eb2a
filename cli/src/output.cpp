#include "output.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <utility>

#include "tag_bytes.hpp"
#include "text.hpp"

namespace procpool::cli::detail {

namespace {
constexpr std::size_t flush_at = std::size_t{64} << 10U;
}  // namespace

// ---- fd_writer ------------------------------------------------------------------------

fd_writer::fd_writer(int fd, bool owned) : fd_(fd), owned_(owned), tty_(::isatty(fd) == 1) {
  buf_.reserve(flush_at + 4096);
}

fd_writer::fd_writer(fd_writer&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)),
      owned_(o.owned_),
      tty_(o.tty_),
      error_(o.error_),
      buf_(std::move(o.buf_)) {}

fd_writer& fd_writer::operator=(fd_writer&& o) noexcept {
  if (this != &o) {
    close_();
    fd_ = std::exchange(o.fd_, -1);
    owned_ = o.owned_;
    tty_ = o.tty_;
    error_ = o.error_;
    buf_ = std::move(o.buf_);
  }
  return *this;
}

fd_writer::~fd_writer() { close_(); }

void fd_writer::close_() noexcept {
  if (fd_ >= 0 && owned_) ::close(fd_);
  fd_ = -1;
}

bool fd_writer::write(std::string_view text) {
  if (error_ != 0 || fd_ < 0) return false;
  buf_.append(text);
  if (tty_ || buf_.size() >= flush_at) return flush();
  return true;
}

bool fd_writer::flush() {
  if (error_ != 0 || fd_ < 0) {
    buf_.clear();
    return false;
  }
  std::size_t off = 0;
  while (off < buf_.size()) {
    const ssize_t n = ::write(fd_, buf_.data() + off, buf_.size() - off);
    if (n >= 0) {
      off += static_cast<std::size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {  // a non-blocking descriptor
      pollfd p{fd_, POLLOUT, 0};
      (void)::poll(&p, 1, -1);
      continue;
    }
    error_ = errno;
    buf_.clear();
    return false;
  }
  buf_.clear();
  return true;
}

// ---- result lines ----------------------------------------------------------------------

process_end process_end_of(const procpool::result& r, bool is_exec) {
  process_end e;
  if (r.exit_code || r.signal) {  // the worker itself ended (crashed, killed on a time limit)
    e.exit_code = r.exit_code;
    e.signal = r.signal;
    return e;
  }
  if (!is_exec) return e;
  if (r.state == task_state::done) {
    if (r.value.is_object()) {
      const auto it = r.value.find("exit_code");
      if (it != r.value.end() && it->is_number_integer()) e.exit_code = it->get<int>();
    }
    return e;
  }
  // A command that failed or was stopped: how it ended is the failure's detail
  // (command_failed / task_stopped carry {"exit_code"} or {"signal"}).
  if (r.value.is_object()) {
    const auto code = r.value.find("exit_code");
    if (code != r.value.end() && code->is_number_integer()) e.exit_code = code->get<int>();
    const auto sig = r.value.find("signal");
    if (sig != r.value.end() && sig->is_number_integer()) e.signal = sig->get<int>();
  }
  return e;
}

bool was_truncated(const procpool::result& r) {
  if (!r.value.is_object()) return false;
  const auto it = r.value.find("truncated");
  return it != r.value.end() && it->is_boolean() && it->get<bool>();
}

void format_result(std::string& out, const procpool::result& r, std::uint64_t line, bool is_exec) {
  out.push_back('{');
  append_tag_bytes_field(out, r.tag);
  out.append("\"tag\":");
  append_json_string(out, r.tag);
  out.append(",\"state\":\"");
  out.append(to_string(r.state));
  out.push_back('"');
  if (r.state == task_state::done) {
    out.append(",\"value\":");
    out.append(r.value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  } else {
    out.append(",\"error\":{\"type\":");
    append_json_string(out, r.error_type);
    out.append(",\"message\":");
    append_json_string(out, r.error_message);
    out.push_back('}');
    // A failed command's output is what it is debugged from: keep it.
    if (is_exec && r.value.is_object() && r.value.contains("stdout")) {
      out.append(",\"value\":");
      out.append(r.value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    }
  }
  if (is_exec && was_truncated(r)) out.append(",\"truncated\":true");
  const process_end pe = process_end_of(r, is_exec);
  if (pe.exit_code) {
    out.append(",\"exit_code\":");
    append_int(out, *pe.exit_code);
  }
  if (pe.signal) {
    out.append(",\"signal\":");
    append_int(out, *pe.signal);
  }
  out.append(",\"attempts\":");
  append_int(out, r.attempts);
  if (!r.attempt_errors.empty()) {
    out.append(",\"attempt_errors\":[");
    for (std::size_t i = 0; i < r.attempt_errors.size(); ++i) {
      if (i != 0) out.push_back(',');
      append_json_string(out, r.attempt_errors[i]);
    }
    out.push_back(']');
  }
  if (r.worker_pid != 0) {
    out.append(",\"worker_pid\":");
    append_int(out, r.worker_pid);
  }
  if (!r.host.empty()) {  // --backend mpi
    out.append(",\"host\":");
    append_json_string(out, r.host);
    out.append(",\"rank\":");
    append_int(out, r.rank);
  }
  if (r.started_at.time_since_epoch().count() != 0) {
    out.append(",\"started_at\":\"");
    append_iso8601_utc(out, r.started_at);
    out.push_back('"');
    if (r.finished_at >= r.started_at) {
      out.append(",\"elapsed_ms\":");
      append_fixed(
          out, std::chrono::duration<double, std::milli>(r.finished_at - r.started_at).count(), 3);
    }
  }
  out.append(",\"line\":");
  append_int(out, static_cast<std::int64_t>(line));
  out.append("}\n");
}

void format_rejected(std::string& out, const std::optional<std::string>& tag, std::string_view type,
                     std::string_view message, std::uint64_t line) {
  out.push_back('{');
  if (tag) append_tag_bytes_field(out, *tag);
  out.append("\"tag\":");
  if (tag) {
    append_json_string(out, *tag);
  } else {
    out.append("null");
  }
  out.append(",\"state\":\"rejected\",\"error\":{\"type\":");
  append_json_string(out, type);
  out.append(",\"message\":");
  append_json_string(out, message);
  out.append("},\"attempts\":0,\"line\":");
  append_int(out, static_cast<std::int64_t>(line));
  out.append("}\n");
}

// ---- joblog ----------------------------------------------------------------------------

namespace {

void append_joblog_field(std::string& out, std::string_view text) {
  // One line per job, tab-separated: escape what would break the columns.
  for (const char c : text) {
    if (const char* e = common_escape(c)) {
      out.append(e);
    } else {
      out.push_back(c);
    }
  }
}

bool needs_quoting(std::string_view a) {
  if (a.empty()) return true;
  for (const char c : a) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '_' || c == '.' || c == '/' || c == ',' || c == ':' ||
                       c == '=' || c == '+' || c == '@' || c == '%';
    if (!plain) return true;
  }
  return false;
}

}  // namespace

std::string joblog_command(std::string_view task, const std::vector<std::string>* argv,
                           const std::string* args_json) {
  std::string cmd;
  if (argv != nullptr) {
    for (std::size_t i = 0; i < argv->size(); ++i) {
      if (i != 0) cmd.push_back(' ');
      const std::string& a = (*argv)[i];
      if (!needs_quoting(a)) {
        cmd.append(a);
        continue;
      }
      cmd.push_back('\'');
      for (const char c : a) {
        if (c == '\'') {
          cmd.append("'\\''");
        } else {
          cmd.push_back(c);
        }
      }
      cmd.push_back('\'');
    }
    return cmd;
  }
  cmd.append(task);
  if (args_json != nullptr) {
    cmd.push_back(' ');
    cmd.append(*args_json);
  }
  return cmd;
}

void format_joblog(std::string& out, const procpool::result& r, std::uint64_t line, bool is_exec,
                   std::string_view command) {
  append_int(out, static_cast<std::int64_t>(line));
  // Host: ":" (this machine), or with --backend mpi "<host>/<rank>".
  if (r.host.empty()) {
    out.append("\t:\t");
  } else {
    out.push_back('\t');
    append_joblog_field(out, r.host + "/" + std::to_string(r.rank));
    out.push_back('\t');
  }
  const bool started = r.started_at.time_since_epoch().count() != 0;
  const double start_s =
      started ? std::chrono::duration<double>(r.started_at.time_since_epoch()).count() : 0.0;
  append_fixed(out, start_s, 3);
  out.push_back('\t');
  const double runtime_s = started && r.finished_at >= r.started_at
                               ? std::chrono::duration<double>(r.finished_at - r.started_at).count()
                               : 0.0;
  append_fixed(out, runtime_s, 3);
  out.append("\t0\t");
  // Receive: the bytes the job produced (exec: its stdout as kept; others: the value).
  std::size_t received = 0;
  if (r.state == task_state::done) {
    if (is_exec && r.value.is_object() && r.value.contains("stdout") &&
        r.value["stdout"].is_string()) {
      received = r.value["stdout"].get_ref<const std::string&>().size();
    } else {
      received = r.value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).size();
    }
  }
  append_int(out, static_cast<std::int64_t>(received));
  out.push_back('\t');
  // Exitval: the process's exit code where one exited; otherwise 0 for done, 1
  // for a task that failed, -1 for one that never finished (as GNU parallel
  // reports a killed job).
  const process_end pe = process_end_of(r, is_exec);
  int exitval = 0;
  if (pe.exit_code) {
    exitval = *pe.exit_code;
  } else if (pe.signal || r.state == task_state::timed_out || r.state == task_state::cancelled ||
             r.state == task_state::crashed) {
    exitval = -1;
  } else if (r.state != task_state::done) {
    exitval = 1;
  }
  append_int(out, exitval);
  out.push_back('\t');
  append_int(out, pe.signal.value_or(0));
  out.push_back('\t');
  append_joblog_field(out, command);
  out.push_back('\n');
}

std::string clean_message(std::string_view what, std::string_view tag, std::string_view suffix) {
  std::string m(what);
  for (const std::string_view prefix : {"pool::submit: ", "pool::submit_for: "}) {
    if (m.starts_with(prefix)) m.erase(0, prefix.size());
  }
  // "tag 'a1': " repeats what the result line says already.
  const std::string tag_prefix = "tag '" + std::string(tag) + "': ";
  if (!tag.empty() && m.starts_with(tag_prefix)) m.erase(0, tag_prefix.size());
  // std::system_error appends ": <the code's message>" at every level of nesting.
  const std::string tail = ": " + std::string(suffix);
  while (!suffix.empty() && m.size() > tail.size() && m.ends_with(tail))
    m.resize(m.size() - tail.size());
  for (std::size_t at = m.find("[json.exception."); at != std::string::npos;
       at = m.find("[json.exception.", at)) {
    const std::size_t close = m.find("] ", at);
    if (close == std::string::npos) break;
    m.erase(at, close + 2 - at);
  }
  return m;
}

}  // namespace procpool::cli::detail
