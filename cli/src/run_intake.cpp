#include "run_intake.hpp"

#include <algorithm>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "exec_settings.hpp"
#include "output.hpp"

namespace procpool::cli::detail {

namespace {

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

}  // namespace

procpool::options pool_options(const run_options& o) {
  procpool::options po;
  po.mode = o.mode;
  po.backend = o.backend;
  po.workers = o.workers;
  po.max_queue = o.max_queue;
  po.task_timeout = seconds_to_ms(o.timeout_seconds);
  po.mpi_heartbeat_limit = seconds_to_ms(o.heartbeat_limit_seconds);
  po.retries = o.retries;
  po.max_tasks_per_worker = o.max_tasks_per_worker;
  // A line's arguments should fit in a task message. The pool reserves a few
  // payloads of address space per worker, so the size is capped: arguments that
  // encode to more are refused (too_large) whatever --max-line-bytes says.
  po.max_payload_bytes = std::clamp<std::size_t>(o.max_line_bytes + (std::size_t{64} << 10U),
                                                 std::size_t{1} << 20U, std::size_t{16} << 20U);
  // An exec result holds up to --max-output bytes of both streams: it must fit,
  // or a command with much output would fail for its result's size.
  po.max_payload_bytes = std::max(po.max_payload_bytes, 2 * o.max_output + (std::size_t{64} << 10U));
  // Every worker, spawned ones and other ranks' included, applies the exec
  // settings before its first job.
  po.initializer = std::string(exec_settings_task);
  po.initializer_args = exec_settings_args(o.max_output, o.results);
  return po;
}

void intake::run(procpool::pool& pool) {
  line_reader reader = input_.reader(s_.stop.stop_fd());
  for (;;) {
    if (s_.stop.level() != 0) break;
    line_reader::item it;
    try {
      it = reader.next();
    } catch (const std::exception& e) {
      s_.err.note(std::string("procpool: ") + e.what() + "; no more lines are read");
      s_.stop.mark_fatal();
      break;
    }
    s_.counters.bytes_read.store(reader.bytes_read(), std::memory_order_relaxed);
    if (it.st == line_reader::status::end || it.st == line_reader::status::interrupted) break;
    s_.counters.lines_read.fetch_add(1, std::memory_order_relaxed);
    if (s_.o.keep_order) s_.sink.wait_window(it.number);
    if (it.st == line_reader::status::too_long) {
      reject_(std::nullopt, "line_too_long",
              "line longer than --max-line-bytes (" + std::to_string(s_.o.max_line_bytes) + ")",
              it.number);
      continue;
    }
    line_(pool, it.text, it.number);
  }
  s_.counters.input_done = true;
}

// Job numbers stand in for line numbers: each job gets its result line.
void intake::run(procpool::pool& pool, template_jobs& jobs) {
  std::string tag;
  std::vector<std::string> argv;
  for (std::uint64_t number = 1; s_.stop.level() == 0; ++number) {
    if (!jobs.next(tag, argv)) break;
    s_.counters.lines_read.fetch_add(1, std::memory_order_relaxed);
    if (s_.o.keep_order) s_.sink.wait_window(number);
    const job_builder::verdict v = jobs_.build_exec(std::move(tag), argv, number);
    // --tag under --stdout: lines are labelled with the job's arguments, as
    // GNU parallel labels them (--tagstring: with the tag, its default).
    jobs_.current().label = s_.o.stdout_mode && s_.o.tag_lines && s_.o.tmpl.tagstring.empty()
                                ? std::make_shared<const std::string>(jobs.arguments())
                                : nullptr;
    dispatch_(pool, v, number);
  }
  s_.counters.input_done = true;
}

void intake::line_(procpool::pool& pool, std::string_view text, std::uint64_t line) {
  dispatch_(pool, jobs_.build(text, line), line);
}

void intake::dispatch_(procpool::pool& pool, job_builder::verdict v, std::uint64_t line) {
  switch (v) {
    case job_builder::verdict::submit:
      submit_(pool, jobs_.current(), line);
      break;
    case job_builder::verdict::reject: {
      const rejection& r = jobs_.rejected();
      reject_(r.tag, r.type, r.message, line);
      break;
    }
    case job_builder::verdict::skip:  // --resume: its result is in the output already
      s_.counters.skipped.fetch_add(1, std::memory_order_relaxed);
      s_.sink.emit(line, {}, {});
      break;
  }
}

void intake::submit_(procpool::pool& pool, job& j, std::uint64_t line) {
  const task_line& t = j.line;
  const procpool::callback cb =
      results_.callback(line, j.is_exec, std::move(j.command), std::move(j.label));
  try {
    if (t.timeout || t.retries) {
      procpool::task_options per_task;
      per_task.timeout = t.timeout;
      per_task.retries = t.retries;
      (void)pool.submit(t.tag, t.task, std::move(j.args), per_task, cb, cb);
    } else {
      (void)pool.submit(t.tag, t.task, std::move(j.args), cb, cb);
    }
    s_.counters.accepted.fetch_add(1, std::memory_order_relaxed);
  } catch (const procpool::error& ex) {
    refused_(ex, t.tag, line);
  } catch (const std::exception& ex) {  // std::bad_alloc and the like
    not_started_(t.tag, line, "procpool::error", ex.what());
  }
}

void intake::refused_(const procpool::error& ex, const std::string& tag, std::uint64_t line) {
  const errc code = ex.code_value();
  if (code == errc::closed) {
    not_started_(tag, line, "procpool::cancelled",
                 "not started: the run was stopped before this line was queued");
  } else if (code == errc::spawn_failed) {
    not_started_(tag, line, "procpool::spawn_failed",
                 clean_message(ex.what(), tag, ex.code().message()));
    if (s_.stop.mark_fatal()) s_.err.note(std::string("procpool: ") + ex.what());
    s_.stop.request(1);
  } else {
    reject_(tag, errc_name(code), clean_message(ex.what(), tag, ex.code().message()), line);
  }
}

void intake::reject_(const std::optional<std::string>& tag, std::string_view type,
                     std::string_view message, std::uint64_t line) {
  s_.counters.rejected.fetch_add(1, std::memory_order_relaxed);
  buf_.clear();
  format_rejected(buf_, tag, type, message, line);
  emit_line_(line);
  s_.stop.line_ended(false, line, tag ? std::string_view(*tag) : std::string_view("(unknown)"));
  s_.failures.note(line, tag ? std::string_view(*tag) : std::string_view("(unknown)"),
                   std::string("rejected (").append(type).append("): ").append(message));
}

void intake::not_started_(const std::string& tag, std::uint64_t line, std::string_view type,
                          std::string_view message) {
  s_.counters.cancelled.fetch_add(1, std::memory_order_relaxed);
  procpool::result r;
  r.tag = tag;
  r.state = task_state::cancelled;
  r.error_type = type;
  r.error_message = message;
  buf_.clear();
  format_result(buf_, r, line, false);
  s_.sink.write_job_result(tag, buf_);
  emit_line_(line);
}

// A line that never ran: its result line goes where result lines go (with
// --stdout, to --output only: it has no output to show).
void intake::emit_line_(std::uint64_t line) {
  if (s_.o.stdout_mode) {
    s_.sink.emit(line, {}, {}, buf_);
  } else {
    s_.sink.emit(line, buf_, {});
  }
}

}  // namespace procpool::cli::detail
