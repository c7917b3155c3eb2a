#include "run_results.hpp"

#include <exception>
#include <optional>
#include <utility>

#include "output.hpp"
#include "run_stdout.hpp"

namespace procpool::cli::detail {

namespace {

/// The exec flag travels with the line number in the callback's capture (two
/// words: small enough for std::function to hold without allocating).
constexpr std::uint64_t exec_bit = std::uint64_t{1} << 63U;

/// A built-in task that gave up because the pool asked it to stop: in process
/// mode terminate() kills the worker and the tag ends cancelled; in thread mode
/// the task returns first and the pool records its exception. Both read as
/// cancelled.
std::optional<procpool::result> as_stopped(const procpool::result& result, bool is_exec) {
  if (result.state != task_state::failed || result.error_code != procpool::errc::cancelled) {
    return std::nullopt;
  }
  const process_end pe = process_end_of(result, is_exec);  // exec: the command's signal
  std::optional<procpool::result> stopped = result;
  stopped->state = task_state::cancelled;
  stopped->error_type = "procpool::cancelled";
  stopped->exit_code = pe.exit_code;
  stopped->signal = pe.signal;
  return stopped;
}

}  // namespace

procpool::callback result_handler::callback(std::uint64_t line, bool is_exec,
                                            std::shared_ptr<const std::string> command,
                                            std::shared_ptr<const std::string> label) {
  const std::uint64_t packed = line | (is_exec ? exec_bit : 0);
  if (command || label) {
    return [this, packed, command = std::move(command), label = std::move(label)](
               const procpool::result& r) { on_result_(r, packed, command.get(), label.get()); };
  }
  return [this, packed](const procpool::result& r) { on_result_(r, packed, nullptr, nullptr); };
}

void result_handler::on_result_(const procpool::result& result, std::uint64_t packed,
                                const std::string* command, const std::string* label) {
  const std::uint64_t line = packed & ~exec_bit;
  const bool is_exec = (packed & exec_bit) != 0;
  const std::optional<procpool::result> stopped = as_stopped(result, is_exec);
  const procpool::result& r = stopped ? *stopped : result;
  s_.counters.count(r.state);
  // With --results the files hold every byte: a cut copy in the line loses nothing.
  if (is_exec && was_truncated(r) && s_.o.results.empty()) {
    s_.counters.truncated.fetch_add(1, std::memory_order_relaxed);
    if (truncated_tags_.size() < max_listed) truncated_tags_.push_back(r.tag);
  }
  buf_.clear();
  format_result(buf_, r, line, is_exec);
  joblog_buf_.clear();
  if (command != nullptr) format_joblog(joblog_buf_, r, line, is_exec, *command);
  s_.sink.write_job_result(r.tag, buf_);
  emit_(r, line, is_exec, label);
  // Only a stop cancels a task: its lines say nothing about how the batch fares.
  if (r.state != task_state::cancelled) s_.stop.line_ended(r.ok(), line, r.tag);
  if (!r.ok() && r.state != task_state::cancelled) s_.failures.note(line, r.tag, failure_reason(r));
  free_previous_(r.tag);
}

// The result line to the output; with --stdout the job's output instead (the
// line then goes to --output, if any).
void result_handler::emit_(const procpool::result& r, std::uint64_t line, bool is_exec,
                           const std::string* label) {
  if (!s_.o.stdout_mode) {
    s_.sink.emit(line, buf_, joblog_buf_);
    return;
  }
  const bool labelled = s_.o.tag_lines || !s_.o.tmpl.tagstring.empty();
  shown_out_.clear();
  shown_err_.clear();
  append_job_output(shown_out_, shown_err_, r, is_exec,
                    labelled ? (label != nullptr ? label : &r.tag) : nullptr);
  if (!shown_err_.empty()) s_.err.write_raw(shown_err_);
  s_.sink.emit(line, shown_out_, joblog_buf_, buf_);
}

// The pool keeps every tag's record until it is taken. The previous tag's
// callback has returned, so taking it here never waits; this keeps the pool's
// memory flat over any number of lines.
void result_handler::free_previous_(const std::string& tag) {
  if (!prev_tag_.empty()) {
    try {
      (void)pool_->take(prev_tag_);
    } catch (const std::exception&) {  // nothing held under that tag: nothing to free
    }
  }
  prev_tag_ = tag;
}

}  // namespace procpool::cli::detail
