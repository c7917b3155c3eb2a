#include <procpool/shared/detail/codec.hpp>
#include "pool_impl.hpp"
#include "backend/worker_process.hpp"
#include <procpool/worker/detail/worker_loop.hpp>
#include <procpool/worker/task.hpp>
#include <procpool/worker/worker_main.hpp>

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <utility>

namespace procpool::detail {
namespace {

using steady = std::chrono::steady_clock;

std::chrono::system_clock::time_point from_ns(std::uint64_t ns) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(ns)));
}

void set_state(worker_row& row, row_state s) noexcept {
  row.state.store(static_cast<std::uint32_t>(s), std::memory_order_release);
}

row_state get_state(const worker_row& row) noexcept {
  return static_cast<row_state>(row.state.load(std::memory_order_acquire));
}

/// The positional argument array for `args` (see PROCPOOL_TASK). `where()`
/// names the call in an error; it is evaluated only when refusing.
template <class Where>
nlohmann::json positional_args(const task_entry& e, const nlohmann::json& args, Where&& where) {
  if (e.arity == 1) {
    nlohmann::json a = nlohmann::json::array();
    a.push_back(args);
    return a;
  }
  if (e.arity == 0 && (args.is_null() || (args.is_array() && args.empty()))) {
    return nlohmann::json::array();
  }
  if (!args.is_array()) {
    throw error(errc::bad_arguments, where() + ": task '" + e.name + "' takes " +
                                         std::to_string(e.arity) +
                                         " arguments: pass them as a JSON array");
  }
  return args;
}

procpool::result make_result(task_state state, std::string type, std::string message) {
  procpool::result r;
  r.state = state;
  r.error_type = std::move(type);
  r.error_message = std::move(message);
  r.finished_at = std::chrono::system_clock::now();
  return r;
}

}  // namespace

pool_impl::pool_impl(options opts) : opts_(std::move(opts)) {
  const std::string where = "pool::pool";
  if (std::getenv(worker_env) != nullptr) {
    throw error(errc::spawn_failed,
                where + ": this process was started as a procpool worker (" + worker_env +
                    " is set) but its main() did not call procpool::run_worker_if_requested(argc, argv) first");
  }
  if (opts_.workers <= 0 || opts_.workers > 4096) {
    throw error(errc::invalid_argument, where + ": options::workers must be between 1 and 4096 (got " +
                                            std::to_string(opts_.workers) + ")");
  }
  if (opts_.max_queue == 0 || opts_.max_queue > (std::size_t{1} << 24U)) {
    throw error(errc::invalid_argument, where + ": options::max_queue must be between 1 and 16777216 (got " +
                                            std::to_string(opts_.max_queue) + ")");
  }
  if (opts_.max_payload_bytes == 0 || opts_.max_payload_bytes > (std::size_t{1} << 30U)) {
    throw error(errc::invalid_argument,
                where + ": options::max_payload_bytes must be between 1 and 1073741824 (got " +
                    std::to_string(opts_.max_payload_bytes) + ")");
  }
  if (opts_.start_timeout.count() <= 0) {
    throw error(errc::invalid_argument, where + ": options::start_timeout must be positive");
  }
  if (opts_.mode == mode::process && opts_.start == start_method::spawn && !opts_.worker_executable.empty() &&
      ::access(opts_.worker_executable.c_str(), X_OK) != 0) {
    throw error(errc::spawn_failed, where + ": options::worker_executable '" + opts_.worker_executable +
                                        "' is not an executable file: " + std::strerror(errno));
  }
  if (opts_.terminate_grace.count() < 0) {
    throw error(errc::invalid_argument, where + ": options::terminate_grace must not be negative");
  }
  if (opts_.mode == mode::thread && (opts_.worker_memory_limit != 0 || opts_.worker_cpu_seconds != 0)) {
    throw error(errc::invalid_argument, where + ": options::worker_memory_limit and worker_cpu_seconds "
                                                "need process mode (threads share one process)");
  }
  if (opts_.kill_grace.count() < 0 || opts_.task_timeout.count() < 0 || opts_.retries < 0) {
    throw error(errc::invalid_argument,
                where + ": options::kill_grace, task_timeout and retries must not be negative");
  }
  if (opts_.max_start_failures < 0 || opts_.start_failure_window.count() < 0) {
    throw error(errc::invalid_argument,
                where + ": options::max_start_failures and start_failure_window must not be negative");
  }
  if (!opts_.initializer.empty()) {
    const task_entry* e = find_task(opts_.initializer);
    if (e == nullptr) {
      throw error(errc::unknown_task, where + ": options::initializer names unknown task '" +
                                          opts_.initializer + "'");
    }
    init_args_ = positional_args(*e, opts_.initializer_args, [&] { return where; });
    try {
      e->check(init_args_);
    } catch (const error& ex) {
      throw error(errc::bad_arguments, where + ": options::initializer_args: " + ex.what());
    }
  }

  const auto workers = static_cast<std::uint32_t>(opts_.workers);
  const layout_sizes sizes = compute_layout(workers, opts_.max_queue, opts_.max_payload_bytes);
  seg_ = segment(opts_.mode == mode::process ? segment::kind::shared : segment::kind::private_,
                 sizes.total_bytes);
  hdr_ = init_layout(seg_.data(), workers, opts_.max_queue, opts_.max_payload_bytes);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    throw error(errc::system, where + ": eventfd: " + std::strerror(errno));
  }
  slots_ = std::vector<worker_slot>(workers);
  // The shared-state arena, before the fork server and every worker: forked
  // ones inherit the mapping, spawned ones attach to its memfd.
  try {
    arena_ = std::make_unique<shared_state_arena>(opts_.mode == mode::process,
                                                  opts_.shared_state_bytes);
  } catch (const error& e) {
    throw error(e.code_value(), where + ": options::shared_state_bytes: " + e.what());
  }
  if (opts_.mode == mode::process) {
    // Now, before the pool starts its threads: the server is forked from a
    // process with no pool threads. With fork_server it forks every worker;
    // with fork and spawn it only guards them (supervisor death).
    server_ = std::make_shared<fork_server>(base_config());
  }
}

worker_config pool_impl::base_config() const {
  worker_config cfg;
  cfg.header = hdr_;
  cfg.wake_fd = wake_fd_;
  cfg.pid = static_cast<int>(::getpid());
  cfg.initializer = opts_.initializer;
  cfg.initializer_args = init_args_;
  cfg.max_tasks = opts_.max_tasks_per_worker;
  cfg.memory_limit = opts_.worker_memory_limit;
  cfg.cpu_seconds = opts_.worker_cpu_seconds;
  cfg.shared_state = arena_.get();
  return cfg;
}

pool_impl::~pool_impl() {
  shutdown();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void pool_impl::start() {
  monitor_ = std::thread([this] { monitor_loop(); });
  callbacks_ = std::thread([this] { callback_loop(); });
  callbacks_id_ = callbacks_.get_id();
}

// ---- submission --------------------------------------------------------------

prepared_task pool_impl::prepare(const submit_request& req) const {
  // Error texts are built only when refusing: this runs for every submission.
  const char* const where = "pool::submit";
  if (req.keyed && req.tag.empty()) {
    throw error(errc::invalid_argument, std::string(where) + ": empty tag");
  }
  if (req.tag.size() > max_tag_bytes) {
    throw error(errc::invalid_argument, std::string(where) + ": tag of " + std::to_string(req.tag.size()) +
                                            " bytes (the limit is " + std::to_string(max_tag_bytes) + ")");
  }
  if (req.per_task.timeout && req.per_task.timeout->count() < 0) {
    throw error(errc::invalid_argument, std::string(where) + ": tag '" + req.tag + "': negative timeout");
  }
  if (req.per_task.retries && *req.per_task.retries < 0) {
    throw error(errc::invalid_argument, std::string(where) + ": tag '" + req.tag + "': negative retries");
  }
  const task_entry* e = find_task(req.task);
  if (e == nullptr) {
    throw error(errc::unknown_task, std::string(where) + ": unknown task '" + std::string(req.task) + "' (tag '" +
                                        req.tag + "')");
  }
  nlohmann::json positional;
  if (req.args_are_positional) {
    if (!req.args.is_array()) {
      throw error(errc::bad_arguments, std::string(where) + ": tag '" + req.tag + "': task '" + e->name +
                                           "' needs an array of positional arguments");
    }
    positional = req.args;
  } else {
    positional = positional_args(*e, req.args, [&] { return std::string(where) + ": tag '" + req.tag + "'"; });
  }
  try {
    e->check(positional);
  } catch (const error& ex) {
    throw error(errc::bad_arguments, std::string(where) + ": tag '" + req.tag + "': " + ex.what());
  }
  prepared_task p;
  p.tag = req.tag;
  p.task = e->name;
  p.payload = encode(positional);
  if (p.payload.size() > opts_.max_payload_bytes) {
    throw error(errc::too_large, std::string(where) + ": tag '" + req.tag + "': arguments encode to " +
                                     std::to_string(p.payload.size()) +
                                     " bytes, over options::max_payload_bytes (" +
                                     std::to_string(opts_.max_payload_bytes) + ")");
  }
  return p;
}

task_handle pool_impl::submit(submit_request req) {
  prepared_task p = prepare(req);
  return submit_prepared(std::move(p), std::move(req));
}

task_handle pool_impl::submit_prepared(prepared_task p, submit_request req) {
  auto rec = std::make_shared<task_record>();
  rec->tag = p.tag;
  rec->task = p.task;
  rec->keyed = req.keyed;
  rec->on_done = std::move(req.on_done);
  rec->on_error = std::move(req.on_error);
  rec->channel = std::move(req.channel);
  rec->pool = weak_from_this();
  rec->res.tag = p.tag;
  rec->flags = req.flags;
  rec->items = req.items;
  rec->timeout = req.per_task.timeout.value_or(opts_.task_timeout);
  rec->retries_left = req.per_task.retries.value_or(opts_.retries);
  if (rec->retries_left > 0) rec->payload = p.payload;
  const char* where = req.policy == space_policy::fail_fast ? "pool::try_submit"
                      : req.policy == space_policy::block_for ? "pool::submit_for"
                                                              : "pool::submit";
  {
    const std::lock_guard<std::mutex> lock(m_);
    if (phase_ == pool_phase::failed) {
      throw error(errc::spawn_failed, std::string(where) + ": the pool failed: " + failure_);
    }
    if (phase_ != pool_phase::running) {
      throw error(errc::closed, std::string(where) + ": the pool is closed (tag '" + p.tag + "')");
    }
    if (rec->keyed && !by_tag_.emplace(p.tag, rec).second) {
      throw error(errc::duplicate_tag, std::string(where) + ": tag '" + p.tag +
                                           "' is already in the result map (take() it to reuse the tag)");
    }
    rec->id = next_id_++;
    inflight_.emplace(rec->id, rec);
    if (rec->timeout.count() > 0) ++timed_inflight_;
  }
  // Not accepted after all: forget the record, and wake anyone who found it.
  auto refuse = [&](errc code, const std::string& why) {
    {
      const std::lock_guard<std::mutex> lock(m_);
      if (rec->keyed) {
        const auto it = by_tag_.find(rec->tag);
        if (it != by_tag_.end() && it->second == rec) by_tag_.erase(it);
      }
      inflight_.erase(rec->id);
      if (rec->timeout.count() > 0) --timed_inflight_;
    }
    {
      const std::lock_guard<std::mutex> lock(rec->m);
      rec->terminal = true;
      rec->ready = true;
      rec->res.state = task_state::cancelled;
      rec->res.error_type = "procpool::error";
      rec->res.error_message = why;
    }
    rec->cv.notify_all();
    throw error(code, why);
  };

  const outgoing_message msg{rec->id, 1, rec->flags, p.tag, p.task, p.payload};
  const auto deadline = steady::now() + req.timeout;
  for (;;) {
    push_result r = push_result::full;
    std::uint32_t seen = 0;
    try {
      const queue_lock lock(hdr_);
      r = push_locked(hdr_, msg);
      if (r == push_result::full && req.policy != space_policy::fail_fast) {
        seen = hdr_->queue.not_full.snapshot();
        hdr_->queue.not_full.prepare_wait();
      }
    } catch (const error& e) {
      refuse(e.code_value(), std::string(where) + ": " + e.what());
    }
    if (r == push_result::ok) break;
    if (r == push_result::refused) {
      std::string why;
      {
        const std::lock_guard<std::mutex> lock(m_);
        why = phase_ == pool_phase::failed ? "the pool failed: " + failure_ : "the pool is closed";
      }
      refuse(errc::closed, std::string(where) + ": " + why + " (tag '" + p.tag + "')");
    }
    if (req.policy == space_policy::fail_fast) {
      refuse(errc::full, std::string(where) + ": the queue is full (max_queue " +
                             std::to_string(opts_.max_queue) + ", tag '" + p.tag + "')");
    }
    auto wait = std::chrono::nanoseconds::max();
    if (req.policy == space_policy::block_for) {
      wait = deadline - steady::now();
      if (wait.count() <= 0) {
        hdr_->queue.not_full.finish_wait();
        refuse(errc::full, std::string(where) + ": the queue stayed full for " +
                               std::to_string(req.timeout.count()) + " ms (tag '" + p.tag + "')");
      }
    }
    hdr_->queue.not_full.wait(seen, wait);
    hdr_->queue.not_full.finish_wait();
  }
  rec->accepted.store(true, std::memory_order_release);
  bool spawn = false;
  {
    const std::lock_guard<std::mutex> lock(m_);
    counters_.submitted += rec->items;
    spawn = spawn_wanted_locked();
  }
  if (spawn) wake_monitor();
  return task_handle(rec);
}

std::vector<nlohmann::json> pool_impl::map(std::string_view task, const std::vector<nlohmann::json>& inputs,
                                           bool positional, std::size_t chunksize) {
  const std::string where = positional ? "pool::starmap" : "pool::map";
  if (inputs.empty()) return {};
  const task_entry* e = find_task(task);
  if (e == nullptr) throw error(errc::unknown_task, where + ": unknown task '" + std::string(task) + "'");
  // Validate every input before accepting any: a bad one refuses the call whole.
  std::vector<nlohmann::json> pos(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const auto item = [&] { return where + ": input " + std::to_string(i); };
    if (positional && !inputs[i].is_array()) {
      throw error(errc::bad_arguments, item() + ": task '" + e->name + "' needs an array of positional arguments");
    }
    pos[i] = positional ? inputs[i] : positional_args(*e, inputs[i], item);
    try {
      e->check(pos[i]);
    } catch (const error& ex) {
      throw error(errc::bad_arguments, item() + ": " + ex.what());
    }
  }
  const std::size_t workers = static_cast<std::size_t>(opts_.workers);
  if (chunksize == 0) {
    // About four chunks per worker, at most 4096 inputs each (bounded results).
    chunksize = std::clamp<std::size_t>((inputs.size() + 4 * workers - 1) / (4 * workers), 1, 4096);
  }

  // Encode the chunks; one over max_payload_bytes is split in halves.
  struct chunk {
    std::size_t begin, end;
    std::vector<std::uint8_t> payload;
  };
  std::vector<chunk> chunks;
  std::vector<std::pair<std::size_t, std::size_t>> todo;
  for (std::size_t b = 0; b < inputs.size(); b += chunksize) todo.emplace_back(b, std::min(inputs.size(), b + chunksize));
  std::reverse(todo.begin(), todo.end());
  while (!todo.empty()) {
    const auto [b, end] = todo.back();
    todo.pop_back();
    nlohmann::json arr = nlohmann::json::array();
    for (std::size_t i = b; i < end; ++i) arr.push_back(pos[i]);
    std::vector<std::uint8_t> payload = encode(arr);
    if (payload.size() > opts_.max_payload_bytes) {
      if (end - b == 1) {
        throw error(errc::too_large, where + ": input " + std::to_string(b) + " encodes to " +
                                         std::to_string(payload.size()) + " bytes, over options::max_payload_bytes (" +
                                         std::to_string(opts_.max_payload_bytes) + ")");
      }
      const std::size_t mid = b + (end - b) / 2;
      todo.emplace_back(mid, end);
      todo.emplace_back(b, mid);
      continue;
    }
    chunks.push_back({b, end, std::move(payload)});
  }
  pos.clear();

  struct in_flight {
    std::size_t begin, end;
    task_handle handle;
  };
  const auto send = [&](std::size_t b, std::size_t end, std::vector<std::uint8_t> payload) {
    prepared_task p;
    p.tag = "map[" + std::to_string(b) + ".." + std::to_string(end) + ")";
    p.task = e->name;
    p.payload = std::move(payload);
    submit_request req;
    req.tag = p.tag;
    req.task = e->name;
    req.keyed = false;
    req.flags = message_batch;
    req.items = end - b;
    return in_flight{b, end, submit_prepared(std::move(p), std::move(req))};
  };
  std::deque<in_flight> pending;
  for (chunk& c : chunks) pending.push_back(send(c.begin, c.end, std::move(c.payload)));

  std::vector<nlohmann::json> values(inputs.size());
  std::optional<procpool::result> first_failure;
  std::size_t first_index = inputs.size();
  while (!pending.empty()) {
    in_flight c = std::move(pending.front());
    pending.pop_front();
    procpool::result r = c.handle.result();
    const std::size_t b = c.begin;
    if (r.state == task_state::failed && r.error_type == "procpool::too_large" && c.end - b > 1) {
      // The chunk's results together were over max_payload_bytes: halve it.
      const std::size_t mid = b + (c.end - b) / 2;
      for (const auto& [lo, hi] : {std::pair{b, mid}, std::pair{mid, c.end}}) {
        nlohmann::json arr = nlohmann::json::array();
        for (std::size_t i = lo; i < hi; ++i) {
          arr.push_back(positional ? inputs[i] : positional_args(*e, inputs[i], [&] { return where; }));
        }
        pending.push_back(send(lo, hi, encode(arr)));
      }
      continue;
    }
    if (!r.ok()) {  // the whole chunk: crashed, timed out, cancelled
      if (b < first_index) {
        first_index = b;
        r.tag = std::to_string(b);
        first_failure = std::move(r);
      }
      continue;
    }
    for (std::size_t j = 0; j < r.value.size(); ++j) {
      nlohmann::json& o = r.value[j];
      if (o.size() >= 2 && o[0] == 0) {
        values[b + j] = std::move(o[1]);
      } else if (b + j < first_index && o.size() >= 3) {
        first_index = b + j;
        procpool::result f = r;
        f.tag = std::to_string(b + j);
        f.state = task_state::failed;
        f.value = nullptr;
        f.error_type = o[1].get<std::string>();
        f.error_message = o[2].get<std::string>();
        first_failure = std::move(f);
      }
    }
  }
  if (first_failure) {
    const procpool::result& f = *first_failure;
    throw task_error(f.tag, f.state, f.error_type, f.error_message, f.worker_pid);
  }
  return values;
}

// ---- completion ----------------------------------------------------------------

void pool_impl::complete_locked(const std::shared_ptr<task_record>& rec, procpool::result r) {
  const bool callbacks = rec->has_callbacks();
  {
    const std::lock_guard<std::mutex> lock(rec->m);
    if (rec->terminal) return;  // a tag is reported once: the first terminal state wins
  }
  // A report about an earlier attempt (a thread that outlived its time limit)
  // says nothing about the attempt now queued or running.
  if (r.attempts != 0 && static_cast<std::uint32_t>(r.attempts) != rec->attempt) return;
  const bool retryable = r.state == task_state::failed || r.state == task_state::crashed ||
                         r.state == task_state::timed_out;
  if (retryable && rec->retries_left > 0 &&
      (phase_ == pool_phase::running || phase_ == pool_phase::closing)) {
    --rec->retries_left;
    rec->attempt_errors.push_back(std::string(to_string(r.state)) + ": " +
                                  (r.error_type.empty() ? "" : r.error_type + ": ") + r.error_message);
    ++rec->attempt;
    requeue_locked(rec);
    return;
  }
  // A task that gave up because terminate() asked it to stop (thread mode: it
  // saw stop_requested() and threw) ends as in process mode: cancelled.
  if (r.state == task_state::failed &&
      (phase_ == pool_phase::terminating || phase_ == pool_phase::terminated)) {
    r.state = task_state::cancelled;
    r.error_message = "stopped by terminate(): " + r.error_message;
  }
  // attempts counts starts: a report from a worker names its attempt; a tag
  // dropped from the queue never started its current attempt.
  if (r.attempts == 0) r.attempts = static_cast<int>(rec->attempt) - 1;
  r.attempt_errors = rec->attempt_errors;
  {
    const std::lock_guard<std::mutex> lock(rec->m);
    rec->terminal = true;
    r.tag = rec->tag;
    rec->res = std::move(r);
    if (!callbacks) rec->ready = true;
  }
  if (rec->timeout.count() > 0) --timed_inflight_;
  const std::size_t n = rec->items;
  switch (rec->res.state) {
    case task_state::done:
      if ((rec->flags & message_batch) != 0 && rec->res.value.is_array()) {
        // A chunk that ran: each input counts as done or failed on its own.
        std::size_t failed = 0;
        for (const auto& o : rec->res.value) failed += (o.is_array() && !o.empty() && o[0] != 0) ? 1U : 0U;
        counters_.done += n - failed;
        counters_.failed += failed;
      } else {
        counters_.done += n;
      }
      break;
    case task_state::failed: counters_.failed += n; break;
    case task_state::timed_out: counters_.timed_out += n; break;
    case task_state::crashed: counters_.crashed += n; break;
    case task_state::cancelled: counters_.cancelled += n; break;
    case task_state::queued:
    case task_state::running: break;
  }
  inflight_.erase(rec->id);
  if (rec->channel) {
    {
      const std::lock_guard<std::mutex> lock(rec->channel->m);
      rec->channel->finished.push_back(rec->res);
    }
    rec->channel->cv.notify_all();
  }
  if (callbacks) {
    callback_queue_.push_back(rec);
    cb_cv_.notify_one();
  } else {
    rec->cv.notify_all();
  }
  cv_.notify_all();
}

void pool_impl::requeue_locked(const std::shared_ptr<task_record>& rec) {
  retry_backlog_.push_back(rec);
}

bool pool_impl::push_retries() {
  std::deque<std::shared_ptr<task_record>> batch;
  {
    const std::lock_guard<std::mutex> lock(m_);
    if (retry_backlog_.empty()) return false;
    batch.swap(retry_backlog_);
  }
  // The records' attempt and payload change only on this thread (under m_),
  // so reading them here without the lock is safe.
  std::vector<std::shared_ptr<task_record>> refused;
  std::size_t k = 0;
  for (; k < batch.size(); ++k) {
    const std::shared_ptr<task_record>& rec = batch[k];
    const outgoing_message msg{rec->id, rec->attempt, rec->flags, rec->tag, rec->task, rec->payload};
    push_result r = push_result::full;
    {
      const queue_lock lock(hdr_);
      r = push_locked(hdr_, msg, /*is_retry=*/true);
    }
    if (r == push_result::full) break;
    if (r == push_result::refused) refused.push_back(rec);
  }
  const std::lock_guard<std::mutex> lock(m_);
  for (std::size_t j = batch.size(); j-- > k;) retry_backlog_.push_front(batch[j]);
  for (const auto& rec : refused) {
    complete_locked(rec, make_result(task_state::cancelled, "procpool::cancelled",
                                     "the pool stopped before another attempt could run"));
  }
  return !retry_backlog_.empty();
}

void pool_impl::complete_by_id_locked(std::uint64_t id, procpool::result r) {
  const auto it = inflight_.find(id);
  if (it == inflight_.end()) return;
  const std::shared_ptr<task_record> rec = it->second;
  complete_locked(rec, std::move(r));
}

void pool_impl::cancel_queued(const std::string& why) {
  std::vector<std::uint64_t> ids;
  {
    const queue_lock lock(hdr_);
    for (std::uint64_t id = drop_head_locked(hdr_); id != 0; id = drop_head_locked(hdr_)) {
      ids.push_back(id);
    }
  }
  const std::lock_guard<std::mutex> lock(m_);
  for (const std::uint64_t id : ids) {
    complete_by_id_locked(id, make_result(task_state::cancelled, "procpool::cancelled", why));
  }
}

// ---- waiting for results -------------------------------------------------------

procpool::result pool_impl::wait_tag(std::string_view tag, bool remove) {
  std::shared_ptr<task_record> rec;
  {
    const std::lock_guard<std::mutex> lock(m_);
    const auto it = by_tag_.find(std::string(tag));
    if (it == by_tag_.end()) {
      throw error(errc::unknown_tag, std::string(remove ? "pool::take" : "pool::result") +
                                         ": unknown tag '" + std::string(tag) + "'");
    }
    rec = it->second;
  }
  procpool::result r;
  {
    std::unique_lock<std::mutex> lock(rec->m);
    rec->cv.wait(lock, [&] { return rec->ready; });
    r = rec->res;
  }
  if (remove) {
    const std::lock_guard<std::mutex> lock(m_);
    const auto it = by_tag_.find(rec->tag);
    if (it != by_tag_.end() && it->second == rec) by_tag_.erase(it);
  }
  return r;
}

std::map<std::string, procpool::result> pool_impl::results() {
  std::vector<std::shared_ptr<task_record>> recs;
  {
    const std::lock_guard<std::mutex> lock(m_);
    recs.reserve(by_tag_.size());
    for (const auto& [tag, rec] : by_tag_) {
      if (rec->accepted.load(std::memory_order_acquire)) recs.push_back(rec);
    }
  }
  std::map<std::string, procpool::result> out;
  for (const auto& rec : recs) {
    std::unique_lock<std::mutex> lock(rec->m);
    rec->cv.wait(lock, [&] { return rec->ready; });
    out.emplace(rec->tag, rec->res);
  }
  return out;
}

// ---- lifecycle -------------------------------------------------------------------

void pool_impl::close() {
  {
    const std::lock_guard<std::mutex> lock(m_);
    if (phase_ != pool_phase::running) return;
    phase_ = pool_phase::closing;
  }
  {
    const queue_lock lock(hdr_);
    hdr_->queue.closing.store(1, std::memory_order_relaxed);
    hdr_->queue.not_empty.notify_all();
    hdr_->queue.not_full.notify_all();
  }
  wake_monitor();
}

bool pool_impl::quiescent_locked() const {
  return alive_ == 0 && inflight_.empty() && callback_queue_.empty() && !callback_running_;
}

void pool_impl::join() {
  if (std::this_thread::get_id() == callbacks_id_) {
    throw error(errc::invalid_argument, "pool::join: called from a callback (it would wait for itself)");
  }
  std::unique_lock<std::mutex> lock(m_);
  if (phase_ == pool_phase::running) {
    throw error(errc::not_closed, "pool::join: call close() or terminate() first");
  }
  cv_.wait(lock, [&] { return quiescent_locked(); });
  joined_ = true;
}

void pool_impl::terminate(std::optional<std::chrono::milliseconds> grace) {
  if (grace && grace->count() < 0) {
    throw error(errc::invalid_argument, "pool::terminate: negative grace");
  }
  {
    std::unique_lock<std::mutex> lock(m_);
    if (joined_ || phase_ == pool_phase::terminated) return;
    if (phase_ == pool_phase::terminating) {
      cv_.wait(lock, [&] { return phase_ == pool_phase::terminated; });
      return;
    }
    phase_ = pool_phase::terminating;
    terminate_deadline_ = steady::now() + grace.value_or(opts_.terminate_grace);
  }
  {
    const queue_lock lock(hdr_);
    hdr_->queue.stopping.store(1, std::memory_order_relaxed);
    hdr_->queue.not_empty.notify_all();
    hdr_->queue.not_full.notify_all();
  }
  cancel_queued("dropped from the queue by terminate()");
  {
    const std::lock_guard<std::mutex> lock(m_);
    for (std::uint32_t i = 0; i < slots_.size(); ++i) {
      if (!slots_[i].used) continue;
      row_at(hdr_, i).stop.store(1, std::memory_order_release);
      if (opts_.mode == mode::process) signal_worker(slots_[i].pid, SIGTERM);
    }
  }
  wake_monitor();
  std::unique_lock<std::mutex> lock(m_);
  // The monitor reaps the workers, and SIGKILLs (process mode) or gives up on
  // (thread mode) whatever still runs when the grace ends.
  cv_.wait(lock, [&] {
    return alive_ == 0 || (opts_.mode == mode::thread && !terminate_deadline_.has_value());
  });
  phase_ = pool_phase::terminated;
  cv_.notify_all();
}

void pool_impl::shutdown() noexcept {
  try {
    bool need_terminate = false;
    {
      const std::lock_guard<std::mutex> lock(m_);
      if (stop_threads_) return;
      need_terminate = !joined_ && phase_ != pool_phase::terminated;
    }
    if (need_terminate) terminate();
    {
      std::unique_lock<std::mutex> lock(m_);
      // Thread mode: a task that ignored stop_requested() still owns its thread.
      cv_.wait(lock, [&] { return quiescent_locked(); });
      stop_threads_ = true;
    }
    cv_.notify_all();
    cb_cv_.notify_all();
    wake_monitor();
    if (monitor_.joinable()) monitor_.join();
    if (callbacks_.joinable()) callbacks_.join();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "procpool: pool shutdown failed: %s\n", e.what());
  }
}

// ---- statistics --------------------------------------------------------------------

pool_stats pool_impl::stats() const {
  const std::lock_guard<std::mutex> lock(m_);
  pool_stats s = counters_;
  s.workers_alive = alive_;
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    if (!slots_[i].used) continue;
    const worker_row& row = row_at(hdr_, i);
    if (get_state(row) == row_state::idle) ++s.workers_idle;
    if (row.claimed.load(std::memory_order_acquire) != 0) ++s.running;
  }
  s.queued = static_cast<std::size_t>(hdr_->queue.pushed.load(std::memory_order_relaxed) -
                                      hdr_->queue.popped.load(std::memory_order_relaxed));
  return s;
}

task_state pool_impl::live_state(std::uint64_t id) const {
  for (std::uint32_t i = 0; i < hdr_->worker_count; ++i) {
    if (row_at(hdr_, i).claimed.load(std::memory_order_acquire) == id) return task_state::running;
  }
  return task_state::queued;
}

// ---- the monitor thread --------------------------------------------------------------

void pool_impl::wake_monitor() const noexcept {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

std::size_t pool_impl::idle_or_starting_locked() const {
  std::size_t n = 0;
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    if (!slots_[i].used) continue;
    const row_state s = get_state(row_at(hdr_, i));
    if (s == row_state::idle || s == row_state::starting) ++n;
  }
  return n;
}

bool pool_impl::spawn_wanted_locked() const {
  if (phase_ != pool_phase::running && phase_ != pool_phase::closing) return false;
  if (alive_ >= slots_.size()) return false;
  const std::uint64_t queued =
      hdr_->queue.pushed.load(std::memory_order_relaxed) - hdr_->queue.popped.load(std::memory_order_relaxed);
  return queued > idle_or_starting_locked();
}

bool pool_impl::anything_pending() const {
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    if (!slots_[i].used) continue;
    if (results_pending(hdr_, i)) return true;
    if (opts_.mode == mode::thread && get_state(row_at(hdr_, i)) == row_state::exited) return true;
  }
  return false;
}

void pool_impl::monitor_loop() {
  std::vector<pollfd> fds;
  std::vector<std::uint32_t> fd_slot;
  // Loop state: m_ is never held across poll(); the slots are changed only by
  // this thread (under m_), so it reads them without the lock.
  for (;;) {
    const bool worked = drain_results();
    reap_finished_workers();
    const bool retries_waiting = push_retries();
    maybe_spawn();
    enforce_terminate_deadline();
    std::optional<steady::time_point> wake_at = enforce_time_limits();
    if (retries_waiting) {
      const auto soon = steady::now() + std::chrono::milliseconds(10);
      if (!wake_at || soon < *wake_at) wake_at = soon;
    }
    int timeout_ms = -1;
    {
      const std::lock_guard<std::mutex> lock(m_);
      if (stop_threads_ && alive_ == 0 && retry_backlog_.empty()) break;
      if (terminate_deadline_ && (!wake_at || *terminate_deadline_ < *wake_at)) wake_at = terminate_deadline_;
    }
    if (wake_at) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(*wake_at - steady::now());
      timeout_ms = static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 60'000));
    }
    fds.clear();
    fd_slot.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    // poll ignores a negative fd; a dead server's socket would report hang-up for ever.
    fds.push_back({server_ && !server_->dead() ? server_->fd() : -1, POLLIN, 0});
    for (std::uint32_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].used && slots_[i].pidfd >= 0 && !slots_[i].dead) {
        fds.push_back({slots_[i].pidfd, POLLIN, 0});
        fd_slot.push_back(i);
      }
    }
    if (worked) {
      timeout_ms = 0;
    } else {
      // Announce the sleep, then look once more: a worker that published
      // before seeing the flag is found here; one after it writes the eventfd.
#if defined(__SANITIZE_THREAD__)
      (void)hdr_->collector_sleeping.exchange(1, std::memory_order_seq_cst);  // see wake_collector
#else
      hdr_->collector_sleeping.store(1, std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with wake_collector's fence
#endif
      if (anything_pending()) timeout_ms = 0;
    }
    const int n = ::poll(fds.data(), fds.size(), timeout_ms);
    hdr_->collector_sleeping.store(0, std::memory_order_relaxed);
    if (n <= 0) continue;
    if ((fds[0].revents & POLLIN) != 0) {
      std::uint64_t v = 0;
      [[maybe_unused]] const ssize_t r = ::read(wake_fd_, &v, sizeof v);
    }
    if (fds[1].revents != 0) server_->pump();
    const std::lock_guard<std::mutex> lock(m_);
    for (std::size_t k = 2; k < fds.size(); ++k) {
      if (fds[k].revents != 0) slots_[fd_slot[k - 2]].dead = true;
    }
  }
}

bool pool_impl::drain_results() {
  bool any = false;
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].used && results_pending(hdr_, i)) {
      drain_row(i);
      any = true;
    }
  }
  return any;
}

void pool_impl::drain_row(std::uint32_t i) {
  std::vector<std::pair<std::uint64_t, procpool::result>> batch;
  const int pid = row_at(hdr_, i).pid.load(std::memory_order_relaxed);
  incoming_result in{};
  while (peek_result(hdr_, i, in)) {
    procpool::result r;
    r.state = static_cast<task_state>(in.state);
    r.attempts = static_cast<int>(in.attempt);
    r.worker_pid = pid;
    r.started_at = from_ns(in.started_ns);
    r.finished_at = from_ns(in.finished_ns);
    if (r.state == task_state::done) {
      try {
        r.value = decode(in.value);
      } catch (const error& e) {
        r.state = task_state::failed;
        r.error_type = "procpool::error";
        r.error_message = e.what();
      }
    } else {
      r.error_type.assign(in.error_type);
      r.error_message.assign(in.error_message);
    }
    batch.emplace_back(in.task_id, std::move(r));
    pop_result(hdr_, i, in.next_read);
  }
  if (batch.empty()) return;
  const std::lock_guard<std::mutex> lock(m_);
  for (auto& [id, r] : batch) complete_by_id_locked(id, std::move(r));
}

void pool_impl::reap_finished_workers() {
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    worker_slot& slot = slots_[i];
    if (!slot.used) continue;
    if (opts_.mode == mode::process) {
      if (!slot.dead) continue;
      // The worker is gone but not reaped (a zombie), so its pid, which is
      // also its process group, cannot have been reused: take whatever the
      // task left running in the group along (I3: no worker descendant lives on).
      exit_status st;
      if (opts_.start == start_method::fork_server) {
        st = slot.server->wait_exit(slot.pid);  // the server kills the group and reaps
      } else {
        ::kill(-slot.pid, SIGKILL);
        if (slot.server) slot.server->unwatch(slot.pid);
        st = reap(slot.pid);
      }
      release_slot(i, st.exit_code, st.signal);
    } else {
      if (get_state(row_at(hdr_, i)) != row_state::exited) continue;
      if (slot.thread.joinable()) slot.thread.join();
      release_slot(i, slot.thread_exit_code.load(), std::nullopt);
    }
  }
}

void pool_impl::release_slot(std::uint32_t i, const std::optional<int>& exit_code,
                             const std::optional<int>& signal) {
  worker_row& row = row_at(hdr_, i);
  drain_row(i);  // results it published before it went count first
  std::uint64_t claimed = 0;
  {
    const queue_lock lock(hdr_);  // repairs the queue if the worker died holding it
    claimed = row.claimed.load(std::memory_order_acquire);
    if (claimed != 0 && claimed == head_task_id_locked(hdr_)) claimed = 0;  // never taken
  }
  const row_state st = get_state(row);
  const bool never_ready = st == row_state::starting || exit_code == exit_start_failed;
  const bool clean = !signal && exit_code == 0;
  exit_status how;
  how.exit_code = exit_code;
  how.signal = signal;
  std::string start_error;
  if (row.start_error_len.load(std::memory_order_acquire) != 0) start_error = row.start_error;

  bool failed_now = false;
  {
    const std::lock_guard<std::mutex> lock(m_);
    worker_slot& slot = slots_[i];
    const auto it = claimed != 0 ? inflight_.find(claimed) : inflight_.end();
    if (it != inflight_.end()) {
      const std::shared_ptr<task_record> rec = it->second;
      const bool stopping = phase_ == pool_phase::terminating || phase_ == pool_phase::terminated;
      const bool timed_out = claimed == slot.timed_out_id;
      const int pid = slot.pid > 0 ? slot.pid : ::getpid();
      if (!stopping && !timed_out && slot.timed_out_id != 0) {
        // Killed for another task's time limit just after that task finished
        // and this one was claimed: not this task's fault, run it again.
        requeue_locked(rec);
      } else {
        procpool::result r;
        if (stopping) {
          r = make_result(task_state::cancelled, "procpool::cancelled",
                          "worker " + std::to_string(pid) + " " + how.describe() + " after terminate()");
        } else if (timed_out) {
          r = make_result(task_state::timed_out, "procpool::task_timeout",
                          "ran past its time limit of " + std::to_string(rec->timeout.count()) +
                              " ms; worker " + std::to_string(pid) + " " + how.describe());
        } else {
          r = make_result(task_state::crashed, "procpool::worker_crashed",
                          "worker " + std::to_string(pid) + " " + how.describe() + " while running the task");
        }
        r.exit_code = exit_code;
        r.signal = signal;
        r.attempts = static_cast<int>(row.claim_attempt.load(std::memory_order_relaxed));
        r.worker_pid = pid;
        r.started_at = from_ns(row.claim_started_ns.load(std::memory_order_relaxed));
        complete_locked(rec, std::move(r));
      }
    }
    if (slot.attach_timed_out) {
      failed_now = record_start_failure_locked(
          "worker program '" + (opts_.worker_executable.empty() ? std::string("/proc/self/exe") : opts_.worker_executable) +
          "' did not attach within " + std::to_string(opts_.start_timeout.count()) +
          " ms: does its main() begin with procpool::run_worker_if_requested(argc, argv)?");
    } else if (never_ready && (!clean || row.attached.load(std::memory_order_acquire) == 0)) {
      failed_now = record_start_failure_locked(
          !start_error.empty() ? start_error
          : row.attached.load(std::memory_order_acquire) == 0 && opts_.start == start_method::spawn
              ? "worker program " + std::to_string(slot.pid) + " " + how.describe() +
                    " without attaching to the pool: does its main() begin with "
                    "procpool::run_worker_if_requested(argc, argv)?"
              : "worker " + std::to_string(slot.pid) + " " + how.describe() + " before it was ready");
    } else if (clean) {
      ++counters_.worker_exits;
    } else {
      ++counters_.worker_deaths;
    }
    // Back to an empty row; its result ring is empty and nobody writes it now.
    row.claimed.store(0, std::memory_order_relaxed);
    row.stop.store(0, std::memory_order_relaxed);
    row.pid.store(0, std::memory_order_relaxed);
    row.start_error_len.store(0, std::memory_order_relaxed);
    row.res_read.store(0, std::memory_order_relaxed);
    row.res_write.store(0, std::memory_order_relaxed);
    set_state(row, row_state::empty);
    if (slot.pidfd >= 0) ::close(slot.pidfd);
    slot.pidfd = -1;
    slot.pid = -1;
    slot.dead = false;
    slot.killed = false;
    slot.watched_id = 0;
    slot.deadline.reset();
    slot.timed_out_id = 0;
    slot.kill_at.reset();
    slot.attach_deadline.reset();
    slot.attach_timed_out = false;
    slot.server.reset();
    slot.used = false;
    --alive_;
    cv_.notify_all();
  }
  if (failed_now) fail_pool();
}

bool pool_impl::record_start_failure_locked(const std::string& why) {
  ++counters_.start_failures;
  const auto now = steady::now();
  start_failures_.push_back(now);
  while (!start_failures_.empty() && now - start_failures_.front() > opts_.start_failure_window) {
    start_failures_.pop_front();
  }
  if (static_cast<int>(start_failures_.size()) <= opts_.max_start_failures) return false;
  if (phase_ != pool_phase::running && phase_ != pool_phase::closing) return false;
  phase_ = pool_phase::failed;
  failure_ = why;
  return true;
}

void pool_impl::fail_pool() {
  std::string why;
  {
    const std::lock_guard<std::mutex> lock(m_);
    why = failure_;
  }
  {
    const queue_lock lock(hdr_);
    hdr_->queue.stopping.store(1, std::memory_order_relaxed);
    hdr_->queue.not_empty.notify_all();
    hdr_->queue.not_full.notify_all();
  }
  cancel_queued("the pool failed: " + why);
  std::fprintf(stderr, "procpool: pool failed after repeated worker start failures: %s\n", why.c_str());
}

void pool_impl::maybe_spawn() {
  for (;;) {
    std::uint32_t index = 0;
    {
      const std::lock_guard<std::mutex> lock(m_);
      if (!spawn_wanted_locked()) return;
      while (slots_[index].used) ++index;
      worker_row& row = row_at(hdr_, index);
      row.claimed.store(0, std::memory_order_relaxed);
      row.stop.store(0, std::memory_order_relaxed);
      row.start_error_len.store(0, std::memory_order_relaxed);
      row.res_read.store(0, std::memory_order_relaxed);
      row.res_write.store(0, std::memory_order_relaxed);
      set_state(row, row_state::starting);
      row.attached.store(0, std::memory_order_relaxed);
      slots_[index].used = true;
      ++alive_;
      ++counters_.workers_started;
    }
    spawn_one(index);
  }
}

void pool_impl::spawn_one(std::uint32_t i) {
  worker_config cfg = base_config();
  cfg.index = i;
  std::string failure;
  try {
    if (opts_.mode == mode::process) {
      started_worker w;
      if (server_->dead()) {
        // The server was killed: start another (from this threaded process, a
        // fault path only). Workers it started are reaped through their own.
        server_ = std::make_shared<fork_server>(base_config());
      }
      switch (opts_.start) {
        case start_method::fork_server: w = server_->start(i); break;
        case start_method::fork: w = fork_worker(std::move(cfg)); break;
        case start_method::spawn:
          w = spawn_worker(cfg, opts_.worker_executable, seg_.fd(), arena_->fd());
          break;
      }
      if (opts_.start != start_method::fork_server) server_->watch(w.pid);
      const std::lock_guard<std::mutex> lock(m_);
      slots_[i].pid = w.pid;
      slots_[i].pidfd = w.pidfd;
      slots_[i].server = server_;
      if (opts_.start == start_method::spawn) {
        slots_[i].attach_deadline = steady::now() + opts_.start_timeout;
      }
      row_at(hdr_, i).pid.store(w.pid, std::memory_order_relaxed);
      return;
    }
    row_at(hdr_, i).pid.store(cfg.pid, std::memory_order_relaxed);
    worker_slot& slot = slots_[i];
    std::thread t([this, i, cfg = std::move(cfg)] {
      const int code = run_worker(cfg);
      slots_[i].thread_exit_code.store(code);
      set_state(row_at(hdr_, i), row_state::exited);
      wake_collector(hdr_, wake_fd_);
    });
    const std::lock_guard<std::mutex> lock(m_);
    slot.thread = std::move(t);
    return;
  } catch (const std::exception& e) {
    failure = e.what();
  }
  bool failed_now = false;
  {
    const std::lock_guard<std::mutex> lock(m_);
    set_state(row_at(hdr_, i), row_state::empty);
    slots_[i].used = false;
    --alive_;
    failed_now = record_start_failure_locked("could not start a worker: " + failure);
    cv_.notify_all();
  }
  if (failed_now) fail_pool();
}

std::optional<steady::time_point> pool_impl::enforce_time_limits() {
  const std::lock_guard<std::mutex> lock(m_);
  std::optional<steady::time_point> next;
  const auto consider = [&](steady::time_point t) {
    if (!next || t < *next) next = t;
  };
  const auto now = steady::now();
  const std::uint64_t rt_now = realtime_ns();
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    worker_slot& slot = slots_[i];
    if (!slot.used) continue;
    worker_row& row = row_at(hdr_, i);
    if (slot.kill_at) {
      if (now >= *slot.kill_at) {
        if (!slot.killed) signal_worker(slot.pid, SIGKILL);
        slot.killed = true;
        slot.kill_at.reset();
      } else {
        consider(*slot.kill_at);
      }
    }
    if (slot.attach_deadline) {
      if (row.attached.load(std::memory_order_acquire) != 0) {
        slot.attach_deadline.reset();
      } else if (now >= *slot.attach_deadline) {
        slot.attach_deadline.reset();
        slot.attach_timed_out = true;
        signal_worker(slot.pid, SIGKILL);
        slot.killed = true;
      } else {
        consider(*slot.attach_deadline);
      }
    }
    const std::uint64_t c = row.claimed.load(std::memory_order_acquire);
    if (c != slot.watched_id) {
      slot.watched_id = c;
      slot.deadline.reset();
      const auto it = c != 0 ? inflight_.find(c) : inflight_.end();
      if (it != inflight_.end() && it->second->timeout.count() > 0) {
        // The claim time is the worker's; the deadline counts from it.
        const std::uint64_t started = row.claim_started_ns.load(std::memory_order_relaxed);
        const auto age = std::chrono::nanoseconds(rt_now > started ? rt_now - started : 0);
        slot.deadline = now - std::chrono::duration_cast<steady::duration>(age) + it->second->timeout;
      }
    }
    if (c == 0 || !slot.deadline || slot.timed_out_id == c) continue;
    if (now < *slot.deadline) {
      consider(*slot.deadline);
      continue;
    }
    slot.timed_out_id = c;
    row.stop.store(1, std::memory_order_release);
    if (opts_.mode == mode::process) {
      signal_worker(slot.pid, SIGTERM);
      slot.kill_at = now + opts_.kill_grace;
      consider(*slot.kill_at);
    } else {
      const auto it = inflight_.find(c);
      if (it != inflight_.end()) {
        const std::shared_ptr<task_record> rec = it->second;
        procpool::result r = make_result(
            task_state::timed_out, "procpool::task_timeout",
            "ran past its time limit of " + std::to_string(rec->timeout.count()) +
                " ms; a thread cannot be stopped, it finishes in the background");
        r.attempts = static_cast<int>(row.claim_attempt.load(std::memory_order_relaxed));
        r.worker_pid = ::getpid();
        r.started_at = from_ns(row.claim_started_ns.load(std::memory_order_relaxed));
        complete_locked(rec, std::move(r));
      }
    }
  }
  // Claims are not signalled to the monitor: while timed tasks are in flight,
  // look again soon so a deadline is never missed by more than this.
  if (timed_inflight_ > 0) consider(now + std::chrono::milliseconds(20));
  return next;
}

void pool_impl::enforce_terminate_deadline() {
  const std::lock_guard<std::mutex> lock(m_);
  if (!terminate_deadline_ || steady::now() < *terminate_deadline_) return;
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    worker_slot& slot = slots_[i];
    if (!slot.used) continue;
    if (opts_.mode == mode::process) {
      if (!slot.killed) signal_worker(slot.pid, SIGKILL);
      slot.killed = true;
    } else {
      const std::uint64_t claimed = row_at(hdr_, i).claimed.load(std::memory_order_acquire);
      if (claimed != 0) {
        procpool::result r = make_result(task_state::cancelled, "procpool::cancelled",
                                         "still running when terminate()'s grace ended; "
                                         "its thread finishes in the background");
        r.attempts = static_cast<int>(row_at(hdr_, i).claim_attempt.load(std::memory_order_relaxed));
        r.worker_pid = ::getpid();
        complete_by_id_locked(claimed, std::move(r));
      }
    }
  }
  if (opts_.mode == mode::thread) terminate_deadline_.reset();
  cv_.notify_all();
}

// ---- the callback thread -------------------------------------------------------------

void pool_impl::callback_loop() {
  std::unique_lock<std::mutex> lock(m_);
  // Loop state: m_ held except while a callback runs.
  for (;;) {
    cb_cv_.wait(lock, [&] { return stop_threads_ || !callback_queue_.empty(); });
    if (callback_queue_.empty()) return;  // stop_threads_ and nothing left
    std::shared_ptr<task_record> rec = std::move(callback_queue_.front());
    callback_queue_.pop_front();
    callback_running_ = true;
    lock.unlock();
    procpool::result r;
    {
      const std::lock_guard<std::mutex> rl(rec->m);
      r = rec->res;
    }
    bool threw = false;
    try {
      if (r.ok()) {
        if (rec->on_done) rec->on_done(r);
      } else if (rec->on_error) {
        rec->on_error(r);
      }
    } catch (const std::exception& e) {
      threw = true;
      std::fprintf(stderr, "procpool: callback for tag '%s' threw %s\n", rec->tag.c_str(), e.what());
    } catch (...) {
      threw = true;
      std::fprintf(stderr, "procpool: callback for tag '%s' threw a non-standard exception\n",
                   rec->tag.c_str());
    }
    {
      const std::lock_guard<std::mutex> rl(rec->m);
      rec->ready = true;
    }
    rec->cv.notify_all();
    lock.lock();
    callback_running_ = false;
    if (threw) ++counters_.callback_errors;
    cv_.notify_all();
  }
}

}  // namespace procpool::detail
