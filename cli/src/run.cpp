#include "run.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <procpool/procpool.hpp>
#include <procpool/shared/detail/posix.hpp>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "builtins.hpp"
#include "input.hpp"
#include "output.hpp"
#include "tag_set.hpp"
#include "text.hpp"

namespace procpool::cli::detail {
namespace {

using json = nlohmann::json;
using steady = std::chrono::steady_clock;

/// The value a tag carries in the seen-set when an earlier run finished it
/// (--resume): the first line with that tag is skipped, a second is a duplicate.
constexpr std::uint64_t done_earlier = ~std::uint64_t{0};

/// The exec flag travels with the line number in the callback's capture (two
/// words: small enough for std::function to hold without allocating).
constexpr std::uint64_t exec_bit = std::uint64_t{1} << 63U;

constexpr auto tick = std::chrono::milliseconds{200};  // progress redraw and output flush


std::string errno_text(int e) { return std::strerror(e); }

std::string_view errc_name(errc e) {
  switch (e) {
    case errc::closed:
      return "closed";
    case errc::duplicate_tag:
      return "duplicate_tag";
    case errc::unknown_task:
      return "unknown_task";
    case errc::too_large:
      return "too_large";
    case errc::full:
      return "full";
    case errc::invalid_argument:
      return "invalid_argument";
    case errc::bad_arguments:
      return "bad_arguments";
    case errc::spawn_failed:
      return "spawn_failed";
    default:
      return "error";
  }
}

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

using procpool::detail::unique_fd;

void poke(int efd) noexcept {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(efd, &one, sizeof one);
}

/// The tag of a result line written by an earlier run, if that line says
/// "done". Our own lines start {"tag":"...","state":"done"; anything else
/// goes through the full parser.
std::optional<std::string> done_tag_of(std::string_view line) {
  constexpr std::string_view head = "{\"tag\":\"";
  constexpr std::string_view done = ",\"state\":\"done\"";
  if (line.starts_with(head)) {
    std::size_t i = head.size();
    bool escaped = false;
    for (; i < line.size(); ++i) {
      if (line[i] == '\\') {
        escaped = true;
        ++i;
      } else if (line[i] == '"') {
        break;
      }
    }
    if (i < line.size()) {
      const std::string_view literal = line.substr(head.size() - 1, i - head.size() + 2);
      const std::string_view rest = line.substr(i + 1);
      if (!rest.starts_with(",\"state\":")) {
        // Not our layout: fall through to the parser.
      } else if (!rest.starts_with(done)) {
        return std::nullopt;
      } else if (!escaped) {
        return std::string(literal.substr(1, literal.size() - 2));
      } else {
        json t = json::parse(literal, nullptr, false);
        if (t.is_string()) return t.get<std::string>();
        return std::nullopt;
      }
    }
  }
  json j = json::parse(line, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  const auto s = j.find("state");
  const auto t = j.find("tag");
  if (s == j.end() || t == j.end() || !s->is_string() || !t->is_string()) return std::nullopt;
  if (s->get_ref<const std::string&>() != "done") return std::nullopt;
  return t->get<std::string>();
}

class runner {
 public:
  explicit runner(const run_options& o) : o_(o) {}
  runner(const runner&) = delete;
  runner& operator=(const runner&) = delete;
  runner(runner&&) = delete;
  runner& operator=(runner&&) = delete;
  ~runner() = default;

  int execute();

 private:
  // ---- setup ---------------------------------------------------------------------------
  bool open_input_();
  bool open_output_();
  bool open_joblog_();
  bool start_pool_();

  // ---- the main thread: read, validate, submit ------------------------------------------
  void read_loop_();
  void handle_line_(std::string_view text, std::uint64_t line);
  void submit_(task_line& t, std::uint64_t line);
  void reject_(const std::optional<std::string>& tag, std::string_view type,
               std::string_view message, std::uint64_t line);
  void not_started_(const std::string& tag, std::uint64_t line, std::string_view type,
                    std::string_view message);
  void wait_window_(std::uint64_t line);

  // ---- any thread -------------------------------------------------------------------------
  void on_result_(const procpool::result& r, std::uint64_t packed, const std::string* command);
  void emit_(std::uint64_t line, std::string_view text, std::string_view joblog_text);
  void failed_line_(std::uint64_t line, std::string_view tag);
  void request_stop_(int level) noexcept;
  void note_(const std::string& text);

  // ---- the control thread -----------------------------------------------------------------
  void control_loop_();
  void draw_progress_(bool final_clear);
  void periodic_flush_();

  int finish_();

  const run_options& o_;

  // Descriptors.
  unique_fd input_owned_;
  int input_fd_ = 0;
  bool input_regular_ = false;
  std::uint64_t input_size_ = 0;
  unique_fd signal_fd_;
  unique_fd control_fd_;  // wakes the control thread (consumed by it)
  unique_fd stop_fd_;     // readable once intake must stop (never consumed)

  // Output: result lines, joblog, keep-order buffer. Guarded by out_m_.
  std::mutex out_m_;
  fd_writer out_;
  fd_writer joblog_;
  std::string out_name_ = "standard output";
  steady::time_point last_flush_ = steady::now();
  std::uint64_t next_emit_ = 1;    // keep-order: the line to write next
  std::vector<std::string> held_;  // keep-order ring, by line % size
  std::vector<char> held_present_;
  std::condition_variable window_cv_;
  bool window_waiting_ = false;
  std::uint64_t window_ = 0;

  // stderr (notes and the progress line). Guarded by err_m_.
  std::mutex err_m_;
  std::size_t progress_width_ = 0;
  bool progress_ = false;

  // Counters.
  std::atomic<std::uint64_t> lines_read_{0};
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> skipped_{0};
  std::atomic<std::uint64_t> rejected_{0};
  std::atomic<std::uint64_t> done_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::atomic<std::uint64_t> timed_out_{0};
  std::atomic<std::uint64_t> crashed_{0};
  std::atomic<std::uint64_t> cancelled_{0};
  std::atomic<std::uint64_t> bytes_read_{0};
  std::atomic<bool> input_done_{false};
  steady::time_point started_ = steady::now();

  // Stopping.
  std::atomic<int> stop_level_{0};  // 1: stop intake and drain; 2: terminate
  std::atomic<int> first_signal_{0};
  std::atomic<bool> halted_{false};
  std::atomic<bool> broken_pipe_{false};
  std::atomic<bool> output_failed_{false};
  std::atomic<bool> fatal_{false};
  std::atomic<bool> quit_control_{false};

  // The main thread's state.
  line_parser parser_;
  task_line line_;
  std::string main_buf_;
  std::string main_joblog_buf_;
  tag_set seen_;
  std::string cached_task_;
  const procpool::detail::task_entry* cached_entry_ = nullptr;
  args_rule cached_rule_ = args_rule::positional;

  // The callback thread's state.
  std::string cb_buf_;
  std::string cb_joblog_buf_;
  std::string prev_tag_;

  // Last: destroyed first, so no callback outlives what it uses.
  std::optional<procpool::pool> pool_;
};

// ---- setup ------------------------------------------------------------------------------

bool runner::open_input_() {
  if (o_.input.empty() || o_.input == "-") {
    input_fd_ = STDIN_FILENO;
    if (::isatty(STDIN_FILENO) == 1 && !o_.quiet) {
      note_(
          "procpool: reading tasks from the terminal, one JSON object per line (end with Ctrl-D)");
    }
  } else {
    const int fd = ::open(o_.input.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      note_("procpool: cannot open the input '" + o_.input + "': " + errno_text(errno));
      return false;
    }
    input_owned_ = unique_fd(fd);
    input_fd_ = fd;
  }
  struct stat st {};
  if (::fstat(input_fd_, &st) == 0 && S_ISREG(st.st_mode)) {
    input_regular_ = true;
    input_size_ = static_cast<std::uint64_t>(st.st_size);
  }
  return true;
}

bool runner::open_output_() {
  if (o_.output.empty()) {
    out_ = fd_writer(STDOUT_FILENO, false);
    return true;
  }
  out_name_ = "'" + o_.output + "'";
  const int flags = O_CLOEXEC | (o_.resume ? (O_RDWR | O_CREAT) : (O_WRONLY | O_CREAT | O_TRUNC));
  unique_fd fd(::open(o_.output.c_str(), flags, 0666));
  if (fd.get() < 0) {
    note_("procpool: cannot open the output '" + o_.output + "': " + errno_text(errno));
    return false;
  }
  if (o_.resume) {
    // Tags already done, from the lines an earlier run wrote.
    try {
      line_reader reader(fd.get(), std::size_t{1} << 30U);
      for (;;) {
        const line_reader::item it = reader.next();
        if (it.st == line_reader::status::end) break;
        if (it.st != line_reader::status::line) continue;
        if (auto tag = done_tag_of(it.text)) {
          if (!tag->empty() && tag->size() <= 0xFFFF && seen_.find(*tag) == nullptr) {
            seen_.insert(*tag, done_earlier);
          }
        }
      }
    } catch (const std::exception& e) {
      note_(std::string("procpool: cannot read the output for --resume: ") + e.what());
      return false;
    }
    // A run killed in the middle of a line leaves it unfinished: cut it off, so
    // the lines appended now start on a line of their own.
    const off_t size = ::lseek(fd.get(), 0, SEEK_END);
    if (size > 0) {
      off_t keep = size;
      char c = 0;
      while (keep > 0 && ::pread(fd.get(), &c, 1, keep - 1) == 1 && c != '\n') --keep;
      if (keep != size && ::ftruncate(fd.get(), keep) != 0) {
        note_("procpool: cannot cut the unfinished last line of '" + o_.output +
              "': " + errno_text(errno));
        return false;
      }
    }
    ::fcntl(fd.get(), F_SETFL, O_APPEND);
    ::lseek(fd.get(), 0, SEEK_END);
  }
  out_ = fd_writer(fd.release(), true);
  return true;
}

bool runner::open_joblog_() {
  if (o_.joblog.empty()) return true;
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (o_.resume ? O_APPEND : O_TRUNC);
  unique_fd fd(::open(o_.joblog.c_str(), flags, 0666));
  if (fd.get() < 0) {
    note_("procpool: cannot open the joblog '" + o_.joblog + "': " + errno_text(errno));
    return false;
  }
  struct stat st {};
  const bool empty = ::fstat(fd.get(), &st) == 0 && st.st_size == 0;
  joblog_ = fd_writer(fd.release(), true);
  if (empty) joblog_.write(joblog_header);
  return true;
}

bool runner::start_pool_() {
  procpool::options po;
  po.mode = o_.mode;
  po.workers = o_.workers;
  po.max_queue = o_.max_queue;
  po.task_timeout = seconds_to_ms(o_.timeout_seconds);
  po.retries = o_.retries;
  po.max_tasks_per_worker = o_.max_tasks_per_worker;
  // A line's arguments should fit in a task message. The pool reserves a few
  // payloads of address space per worker, so the size is capped: arguments that
  // encode to more are refused (too_large) whatever --max-line-bytes says.
  po.max_payload_bytes = std::clamp<std::size_t>(o_.max_line_bytes + (std::size_t{64} << 10U),
                                                 std::size_t{1} << 20U, std::size_t{16} << 20U);
  try {
    pool_.emplace(std::move(po));
  } catch (const std::exception& e) {
    note_(std::string("procpool: ") + e.what());
    return false;
  }
  return true;
}

// ---- the main thread ---------------------------------------------------------------------

void runner::wait_window_(std::uint64_t line) {
  std::unique_lock<std::mutex> lock(out_m_);
  if (line - next_emit_ < window_) return;
  window_waiting_ = true;
  window_cv_.wait(lock, [&] { return line - next_emit_ < window_; });
  window_waiting_ = false;
}

void runner::read_loop_() {
  line_reader reader(input_fd_, o_.max_line_bytes, stop_fd_.get());
  for (;;) {
    if (stop_level_.load(std::memory_order_relaxed) != 0) break;
    line_reader::item it;
    try {
      it = reader.next();
    } catch (const std::exception& e) {
      note_(std::string("procpool: ") + e.what() + "; no more lines are read");
      fatal_ = true;
      break;
    }
    bytes_read_.store(reader.bytes_read(), std::memory_order_relaxed);
    if (it.st == line_reader::status::end || it.st == line_reader::status::interrupted) break;
    lines_read_.fetch_add(1, std::memory_order_relaxed);
    if (o_.keep_order) wait_window_(it.number);
    if (it.st == line_reader::status::too_long) {
      reject_(std::nullopt, "line_too_long",
              "line longer than --max-line-bytes (" + std::to_string(o_.max_line_bytes) + ")",
              it.number);
      continue;
    }
    handle_line_(it.text, it.number);
  }
  input_done_ = true;
}

void runner::handle_line_(std::string_view text, std::uint64_t line) {
  line_error err;
  std::optional<std::string> tag;
  if (!parser_.parse(text, line_, err, tag)) {
    if (tag && seen_.find(*tag) == nullptr && tag->size() <= 0xFFFF) seen_.insert(*tag, line);
    reject_(tag, err.type, err.message, line);
    return;
  }
  if (line_.tag.size() <= 0xFFFF) {
    if (std::uint64_t* first = seen_.find(line_.tag)) {
      if (*first == done_earlier) {  // --resume: its result is in the output already
        *first = line;
        skipped_.fetch_add(1, std::memory_order_relaxed);
        emit_(line, {}, {});
        return;
      }
      reject_(line_.tag, "duplicate_tag", "tag already used on line " + std::to_string(*first),
              line);
      return;
    }
    seen_.insert(line_.tag, line);
  }
  submit_(line_, line);
}

void runner::submit_(task_line& t, std::uint64_t line) {
  if (t.task != cached_task_ || cached_entry_ == nullptr) {
    cached_entry_ = procpool::detail::find_task(t.task);
    cached_rule_ = rule_for(t.task);
    cached_task_ = t.task;
  }
  const procpool::detail::task_entry* e = cached_entry_;
  const bool is_exec = e != nullptr && cached_rule_ == args_rule::whole_list && t.task == "exec";

  // "args" -> what pool::submit takes (see PROCPOOL_TASK's arity rule).
  json args;
  if (e != nullptr && cached_rule_ == args_rule::as_written) {
    args = t.has_args ? std::move(t.args) : json(nullptr);
  } else {
    json list;
    if (!t.has_args) {
      list = json::array();
    } else if (t.args.is_array()) {
      list = std::move(t.args);
    } else {
      list = json::array();
      list.push_back(std::move(t.args));
    }
    if (e != nullptr && cached_rule_ == args_rule::positional && e->arity == 1) {
      if (list.size() != 1) {
        reject_(t.tag, "bad_arguments",
                "task '" + t.task + "' takes 1 argument, got " + std::to_string(list.size()), line);
        return;
      }
      args = std::move(list[0]);
    } else {
      args = std::move(list);
    }
  }

  std::shared_ptr<const std::string> command;
  if (joblog_.valid()) {
    std::vector<std::string> argv;
    const bool argv_form =
        is_exec && args.is_array() &&
        std::all_of(args.begin(), args.end(), [](const json& a) { return a.is_string(); });
    if (argv_form) {
      for (const json& a : args) argv.push_back(a.get<std::string>());
    }
    const std::string args_text = args.dump(-1, ' ', false, json::error_handler_t::replace);
    command = std::make_shared<const std::string>(
        joblog_command(t.task, argv_form ? &argv : nullptr, &args_text));
  }

  const std::uint64_t packed = line | (is_exec ? exec_bit : 0);
  procpool::callback cb;
  if (command) {
    cb = [this, packed, command](const procpool::result& r) {
      on_result_(r, packed, command.get());
    };
  } else {
    cb = [this, packed](const procpool::result& r) { on_result_(r, packed, nullptr); };
  }
  try {
    if (t.timeout || t.retries) {
      procpool::task_options per_task;
      per_task.timeout = t.timeout;
      per_task.retries = t.retries;
      (void)pool_->submit(t.tag, t.task, std::move(args), per_task, cb, cb);
    } else {
      (void)pool_->submit(t.tag, t.task, std::move(args), cb, cb);
    }
    accepted_.fetch_add(1, std::memory_order_relaxed);
  } catch (const procpool::error& ex) {
    const errc code = ex.code_value();
    if (code == errc::closed) {
      not_started_(t.tag, line, "procpool::cancelled",
                   "not started: the run was stopped before this line was queued");
    } else if (code == errc::spawn_failed) {
      not_started_(t.tag, line, "procpool::spawn_failed",
                   clean_message(ex.what(), t.tag, ex.code().message()));
      if (!fatal_.exchange(true)) note_(std::string("procpool: ") + ex.what());
      request_stop_(1);
    } else {
      reject_(t.tag, errc_name(code), clean_message(ex.what(), t.tag, ex.code().message()), line);
    }
  } catch (const std::exception& ex) {  // std::bad_alloc and the like
    not_started_(t.tag, line, "procpool::error", ex.what());
  }
}

void runner::reject_(const std::optional<std::string>& tag, std::string_view type,
                     std::string_view message, std::uint64_t line) {
  rejected_.fetch_add(1, std::memory_order_relaxed);
  main_buf_.clear();
  format_rejected(main_buf_, tag, type, message, line);
  emit_(line, main_buf_, {});
  failed_line_(line, tag ? std::string_view(*tag) : std::string_view("(unknown)"));
}

void runner::not_started_(const std::string& tag, std::uint64_t line, std::string_view type,
                          std::string_view message) {
  cancelled_.fetch_add(1, std::memory_order_relaxed);
  procpool::result r;
  r.tag = tag;
  r.state = task_state::cancelled;
  r.error_type = type;
  r.error_message = message;
  main_buf_.clear();
  format_result(main_buf_, r, line, false);
  emit_(line, main_buf_, {});
}

// ---- results (the pool's callback thread) -------------------------------------------------

void runner::on_result_(const procpool::result& result, std::uint64_t packed,
                        const std::string* command) {
  const std::uint64_t line = packed & ~exec_bit;
  const bool is_exec = (packed & exec_bit) != 0;
  // A built-in task that gave up because the pool asked it to stop: in process
  // mode terminate() kills the worker and the tag ends cancelled; in thread mode
  // the task returns first and the pool records its exception. Report both the same.
  const procpool::result* rp = &result;
  std::optional<procpool::result> stopped;
  if (result.state == task_state::failed && result.error_code == procpool::errc::cancelled) {
    const process_end pe = process_end_of(result, is_exec);  // exec: the command's signal
    stopped = result;
    stopped->state = task_state::cancelled;
    stopped->error_type = "procpool::cancelled";
    stopped->exit_code = pe.exit_code;
    stopped->signal = pe.signal;
    rp = &*stopped;
  }
  const procpool::result& r = *rp;
  switch (r.state) {
    case task_state::done:
      done_.fetch_add(1, std::memory_order_relaxed);
      break;
    case task_state::failed:
      failed_.fetch_add(1, std::memory_order_relaxed);
      break;
    case task_state::timed_out:
      timed_out_.fetch_add(1, std::memory_order_relaxed);
      break;
    case task_state::crashed:
      crashed_.fetch_add(1, std::memory_order_relaxed);
      break;
    case task_state::cancelled:
    case task_state::queued:
    case task_state::running:
      cancelled_.fetch_add(1, std::memory_order_relaxed);
      break;
  }
  cb_buf_.clear();
  format_result(cb_buf_, r, line, is_exec);
  cb_joblog_buf_.clear();
  if (command != nullptr) format_joblog(cb_joblog_buf_, r, line, is_exec, *command);
  emit_(line, cb_buf_, cb_joblog_buf_);
  if (!r.ok() && r.state != task_state::cancelled) failed_line_(line, r.tag);
  // The pool keeps every tag's record until it is taken. The previous tag's
  // callback has returned, so taking it here never waits; this keeps the
  // pool's memory flat over any number of lines.
  if (!prev_tag_.empty()) {
    try {
      (void)pool_->take(prev_tag_);
    } catch (const std::exception&) {  // nothing held under that tag: nothing to free
    }
  }
  prev_tag_ = r.tag;
}

void runner::emit_(std::uint64_t line, std::string_view text, std::string_view joblog_text) {
  bool failed_now = false;
  bool pipe_now = false;
  {
    std::lock_guard<std::mutex> lock(out_m_);
    if (!joblog_text.empty()) joblog_.write(joblog_text);
    auto put = [&](std::string_view s) {
      if (s.empty() || !out_.write(s)) {
        if (!s.empty() && out_.error() != 0) {
          if (out_.error() == EPIPE) {
            pipe_now = !broken_pipe_.exchange(true);
          } else {
            failed_now = !output_failed_.exchange(true);
          }
        }
      }
    };
    if (!o_.keep_order) {
      put(text);
    } else if (line != next_emit_) {
      const std::size_t slot = line % held_.size();
      held_[slot].assign(text);
      held_present_[slot] = 1;
    } else {
      put(text);
      ++next_emit_;
      for (;;) {
        const std::size_t slot = next_emit_ % held_.size();
        if (held_present_[slot] == 0) break;
        put(held_[slot]);
        held_[slot].clear();
        held_present_[slot] = 0;
        ++next_emit_;
      }
      if (window_waiting_) window_cv_.notify_one();
    }
  }
  if (pipe_now) {
    request_stop_(2);
  } else if (failed_now) {
    note_("procpool: cannot write to " + out_name_ + ": " + errno_text(out_.error()) +
          "; stopping");
    request_stop_(2);
  }
}

void runner::failed_line_(std::uint64_t line, std::string_view tag) {
  if (o_.halt == halt_policy::off || halted_.exchange(true)) return;
  if (!o_.quiet) {
    note_("procpool: line " + std::to_string(line) + " (tag '" + std::string(tag) +
          "') did not end done: " +
          (o_.halt == halt_policy::now ? "terminating (--halt-on-error=now)"
                                       : "no new tasks, draining (--halt-on-error)"));
  }
  request_stop_(o_.halt == halt_policy::now ? 2 : 1);
}

void runner::request_stop_(int level) noexcept {
  int cur = stop_level_.load();
  while (cur < level && !stop_level_.compare_exchange_weak(cur, level)) {
  }
  poke(stop_fd_.get());
  poke(control_fd_.get());
}

void runner::note_(const std::string& text) {
  std::lock_guard<std::mutex> lock(err_m_);
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

// ---- the control thread: signals, stop requests, progress, flushing ---------------------------

void runner::control_loop_() {
  int signals = 0;
  int applied = 0;
  for (;;) {
    std::array<pollfd, 2> fds = {{{signal_fd_.get(), POLLIN, 0}, {control_fd_.get(), POLLIN, 0}}};
    const int n = ::poll(fds.data(), fds.size(), static_cast<int>(tick.count()));
    if (n > 0 && (fds[0].revents & POLLIN) != 0) {
      signalfd_siginfo si{};
      while (::read(signal_fd_.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
        ++signals;
        const int signo = static_cast<int>(si.ssi_signo);
        const std::string name = signo == SIGINT ? "SIGINT" : "SIGTERM";
        if (signals == 1) {
          first_signal_ = signo;
          if (!o_.quiet) {
            note_("procpool: " + name + ": no new tasks; draining the running and queued ones (" +
                  name + " again terminates them)");
          }
          request_stop_(1);
        } else if (signals == 2) {
          if (!o_.quiet) note_("procpool: " + name + " again: terminating the tasks");
          request_stop_(2);
        }
      }
    }
    if (n > 0 && (fds[1].revents & POLLIN) != 0) {
      std::uint64_t v = 0;
      [[maybe_unused]] const ssize_t r = ::read(control_fd_.get(), &v, sizeof v);
    }
    const int level = stop_level_.load();
    if (level >= 1 && applied < 1) {
      applied = 1;
      pool_->close();
    }
    if (level >= 2 && applied < 2) {
      applied = 2;
      pool_->terminate();
    }
    if (quit_control_.load()) return;
    periodic_flush_();
    if (progress_) draw_progress_(false);
  }
}

void runner::periodic_flush_() {
  std::lock_guard<std::mutex> lock(out_m_);
  const auto now = steady::now();
  if (now - last_flush_ < tick) return;
  last_flush_ = now;
  if (out_.pending() && !out_.flush() && out_.error() == EPIPE && !broken_pipe_.exchange(true)) {
    request_stop_(2);
  }
  if (joblog_.pending()) joblog_.flush();
}

void runner::draw_progress_(bool final_clear) {
  std::lock_guard<std::mutex> lock(err_m_);
  std::string s = "\r";
  if (final_clear) {
    if (progress_width_ == 0) return;
    s.append(progress_width_, ' ');
    s.push_back('\r');
    progress_width_ = 0;
    [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, s.data(), s.size());
    return;
  }
  const std::uint64_t bad = failed_ + timed_out_ + crashed_ + cancelled_ + rejected_;
  const std::uint64_t finished = done_ + bad;
  const std::uint64_t read = lines_read_ - skipped_;
  const double elapsed = std::chrono::duration<double>(steady::now() - started_).count();
  const double rate = elapsed > 0 ? static_cast<double>(finished) / elapsed : 0.0;
  // The total: exact once the input is read; estimated from the bytes read of a
  // regular file before that; unknown otherwise.
  std::optional<double> total;
  bool estimate = false;
  if (input_done_) {
    total = static_cast<double>(read);
  } else if (input_regular_ && bytes_read_ > 0 && input_size_ > 0) {
    total = static_cast<double>(read) * static_cast<double>(input_size_) /
            static_cast<double>(bytes_read_.load());
    estimate = true;
  }
  std::string line = "procpool ";
  if (total && *total > 0) {
    // [#########...........] 45%
    constexpr int width = 20;
    const double frac = std::clamp(static_cast<double>(finished) / *total, 0.0, 1.0);
    const int filled = static_cast<int>(frac * width);
    line += "[";
    line.append(static_cast<std::size_t>(filled), '#');
    line.append(static_cast<std::size_t>(width - filled), '.');
    line += "] " + std::to_string(static_cast<int>(100.0 * frac)) + "% ";
  }
  line += std::to_string(finished) + "/";
  if (total) {
    if (estimate) line += "~";
    line += std::to_string(static_cast<std::uint64_t>(*total + 0.5));
  } else {
    line += std::to_string(read) + "+";
  }
  char rate_text[48];
  std::snprintf(rate_text, sizeof rate_text, " %.1f/s", rate);
  line += rate_text;
  if (total && rate > 0 && finished > 0) {
    line += " ETA " + format_duration((*total - static_cast<double>(finished)) / rate);
  }
  if (bad != 0) line += " failed " + std::to_string(bad);
  s += line;
  if (line.size() < progress_width_) s.append(progress_width_ - line.size(), ' ');
  progress_width_ = line.size();
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, s.data(), s.size());
}

// ---- the run -----------------------------------------------------------------------------

int runner::execute() {
  progress_ = o_.progress == 1 || (o_.progress == -1 && !o_.quiet && ::isatty(STDERR_FILENO) == 1);
  window_ =
      std::max<std::uint64_t>(4096, 4 * (o_.max_queue + static_cast<std::uint64_t>(o_.workers)));
  if (o_.keep_order) {
    held_.resize(window_);
    held_present_.assign(window_, 0);
  }

  // Signals: SIGINT/SIGTERM are read from a signalfd by the control thread
  // (blocked here before any thread starts, so every thread inherits the mask);
  // SIGPIPE is ignored so a closed stdout shows up as EPIPE.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigset_t old_mask;
  ::pthread_sigmask(SIG_BLOCK, &stop_signals, &old_mask);
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  struct sigaction old_pipe {};
  ::sigaction(SIGPIPE, &ignore, &old_pipe);
  struct restore_signals {
    sigset_t mask;
    struct sigaction pipe;
    restore_signals(const sigset_t& m, const struct sigaction& p) : mask(m), pipe(p) {}
    restore_signals(const restore_signals&) = delete;
    restore_signals& operator=(const restore_signals&) = delete;
    restore_signals(restore_signals&&) = delete;
    restore_signals& operator=(restore_signals&&) = delete;
    ~restore_signals() {
      ::sigaction(SIGPIPE, &pipe, nullptr);
      ::pthread_sigmask(SIG_SETMASK, &mask, nullptr);
    }
  } restore{old_mask, old_pipe};

  signal_fd_ = unique_fd(::signalfd(-1, &stop_signals, SFD_CLOEXEC | SFD_NONBLOCK));
  control_fd_ = unique_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  stop_fd_ = unique_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (signal_fd_.get() < 0 || control_fd_.get() < 0 || stop_fd_.get() < 0) {
    note_("procpool: cannot set up signal handling: " + errno_text(errno));
    return exit_usage;
  }

  if (!open_input_() || !open_output_() || !open_joblog_()) return exit_usage;
  if (!start_pool_()) return exit_usage;

  started_ = steady::now();
  std::thread control([this] { control_loop_(); });
  try {
    read_loop_();
  } catch (const std::exception& e) {  // out of memory and the like: stop intake, drain
    note_(std::string("procpool: ") + e.what() + "; no more lines are read");
    fatal_ = true;
    request_stop_(1);
  }

  // Every line read has been submitted, rejected or skipped: drain.
  try {
    pool_->close();
    pool_->join();
  } catch (const std::exception& e) {
    note_(std::string("procpool: ") + e.what());
    fatal_ = true;
  }
  quit_control_ = true;
  poke(control_fd_.get());
  control.join();

  // Take any SIGINT/SIGTERM still pending, so restoring the mask does not
  // deliver it after the run is over.
  signalfd_siginfo si{};
  while (::read(signal_fd_.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
    if (first_signal_ == 0) first_signal_ = static_cast<int>(si.ssi_signo);
  }
  return finish_();
}

int runner::finish_() {
  {
    std::lock_guard<std::mutex> lock(out_m_);
    if (!out_.flush() && out_.error() != 0) {
      if (out_.error() == EPIPE) {
        broken_pipe_ = true;
      } else if (!output_failed_.exchange(true)) {
        note_("procpool: cannot write to " + out_name_ + ": " + errno_text(out_.error()));
      }
    }
    if (joblog_.valid() && !joblog_.flush() && joblog_.error() != 0) {
      note_("procpool: cannot write the joblog '" + o_.joblog +
            "': " + errno_text(joblog_.error()));
      output_failed_ = true;
    }
  }
  if (progress_) draw_progress_(true);

  const double wall = std::chrono::duration<double>(steady::now() - started_).count();
  const std::uint64_t bad = failed_ + timed_out_ + crashed_ + cancelled_ + rejected_;
  const std::uint64_t finished = done_ + bad;
  if (!o_.quiet) {
    std::string s = "procpool: " + std::to_string(finished) + " task" + (finished == 1 ? "" : "s") +
                    ": " + std::to_string(done_.load()) + " done";
    auto add = [&](std::uint64_t n, const char* what) {
      if (n != 0) s += ", " + std::to_string(n) + " " + what;
    };
    add(failed_, "failed");
    add(timed_out_, "timed_out");
    add(crashed_, "crashed");
    add(cancelled_, "cancelled");
    add(rejected_, "rejected");
    add(skipped_, "skipped (done in an earlier run)");
    char tail[96];
    std::snprintf(tail, sizeof tail, " in %.3f s (%.1f tasks/s)", wall,
                  wall > 0 ? static_cast<double>(finished) / wall : 0.0);
    s += tail;
    if (first_signal_ != 0)
      s += first_signal_ == SIGINT ? "; interrupted (SIGINT)" : "; interrupted (SIGTERM)";
    if (broken_pipe_) s += "; output closed by its reader";
    note_(s);
  }
  if (broken_pipe_) return exit_broken_pipe;
  if (first_signal_ != 0) return 128 + first_signal_.load();
  if (output_failed_ || fatal_ || bad != 0) return exit_not_all_done;
  return exit_ok;
}

}  // namespace

int run(const run_options& opts) noexcept {
  try {
    register_builtin_tasks();
    runner r(opts);
    return r.execute();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "procpool: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "procpool: unexpected error\n");
  }
  return exit_not_all_done;
}

}  // namespace procpool::cli::detail
