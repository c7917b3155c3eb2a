// The front: lifecycle, submission, and what the backend reports.
// Submission checks are in submission.cpp, map/starmap in map_engine.cpp.
#include "front/pool_front.hpp"
#include "outcomes.hpp"

#include "batch_outcome.hpp"
#include "front/diagnostics.hpp"

#include <procpool/shared/detail/codec.hpp>
#include <procpool/shared/detail/layout.hpp>
#include <procpool/worker/task.hpp>

#include <iterator>
#include <utility>

namespace procpool::detail {
namespace {

/// How long a caller waits for room: a practically infinite timeout is no timeout.
deadline wait_limit(std::chrono::milliseconds t) {
  if (t >= std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::nanoseconds::max())) return {};
  return deadline::after(std::chrono::nanoseconds(t));
}

const char* call_name(space_policy p) {
  switch (p) {
    case space_policy::fail_fast: return "pool::try_submit";
    case space_policy::block_for: return "pool::submit_for";
    case space_policy::block: break;
  }
  return "pool::submit";
}

}  // namespace

pool_front::pool_front(options opts)
    : opts_(std::move(opts)),
      backend_(make_backend(opts_)),
      store_(opts_.result_retention, opts_.max_retained_results),
      callbacks_(opts_, m_, cv_, [this](std::shared_ptr<task_record>&& rec) {
        store_.delivered(rec);
        store_.let_go(std::move(rec));
      }) {
  // From now on a task registered later would be unknown to running workers.
  seal_task_registry();
}

pool_front::~pool_front() { shutdown(); }

void pool_front::start() {
  backend_->start(*this);
  callbacks_.start();
}

// ---- submission ---------------------------------------------------------------------

void pool_front::refuse(const std::shared_ptr<task_record>& rec, errc code, const std::string& why) {
  if (rec->keyed) store_.release(rec->tag);
  {
    const std::lock_guard<std::mutex> lock(m_);
    inflight_.erase(rec->id);
  }
  throw error(code, why);
}

task_handle pool_front::submit(submit_request req) {
  prepared_task p = prepare(req);
  return submit_prepared(std::move(p), std::move(req));
}

task_handle pool_front::submit_prepared(prepared_task p, submit_request req) {
  return task_handle(submit_record(std::move(p), std::move(req)));
}

std::shared_ptr<task_record> pool_front::submit_record(prepared_task p, submit_request req) {
  const char* where = call_name(req.policy);
  const deadline until = req.policy == space_policy::block_for ? wait_limit(req.timeout) : deadline{};
  result_store::reservation slot = req.keyed ? store_.reserve(p.tag, req.policy, until, where) : nullptr;
  auto rec = std::make_shared<task_record>();
  rec->tag = std::move(p.tag);
  rec->task = std::move(p.task);
  rec->keyed = req.keyed;
  rec->drop_on_delivery = req.keyed && store_.policy() == retention::drop_once_delivered;
  rec->has_callbacks = static_cast<bool>(req.on_done) || static_cast<bool>(req.on_error);
  rec->on_done = std::move(req.on_done);
  rec->on_error = std::move(req.on_error);
  rec->channel = std::move(req.channel);
  rec->pool = weak_from_this();
  rec->res.tag = rec->tag;
  rec->flags = req.flags | (opts_.observer ? std::uint32_t{message_wake_on_claim} : 0U);
  rec->items = req.items;
  rec->timeout = req.per_task.timeout.value_or(opts_.task_timeout);
  // A map chunk's limit is per input: the worker reports each input's start and outcome.
  if ((rec->flags & message_batch) != 0 && rec->timeout.count() > 0) rec->flags |= message_batch_progress;
  rec->retries_left = req.per_task.retries.value_or(opts_.retries);
  if (rec->retries_left > 0) rec->payload = p.payload;
  {
    const std::lock_guard<std::mutex> lock(m_);
    if (phase_ != pool_phase::running) {
      if (rec->keyed) store_.release(rec->tag);
      if (phase_ == pool_phase::failed) throw error(errc::spawn_failed, std::string(where) + ": the pool failed: " + failure_);
      throw error(errc::closed, std::string(where) + ": the pool is closed (tag '" + rec->tag + "')");
    }
    rec->id = next_id_++;
    inflight_.emplace(rec->id, rec);
  }
  push_or_refuse(rec, p.payload, req, where, until);
  if (rec->keyed) store_.publish(slot, rec);
  if (req.counts_as_submitted) submitted_.fetch_add(rec->items, std::memory_order_relaxed);
  if (opts_.observer && rec->keyed) opts_.observer->task_queued(rec->tag, rec->task);
  // The backend copied the payload: its buffer serves this thread's next submission.
  thread_scratch().give_back(std::move(p.payload));
  return rec;
}

void pool_front::push_or_refuse(const std::shared_ptr<task_record>& rec, std::span<const std::uint8_t> payload,
                                const submit_request& req, const char* where, const deadline& until) {
  task_message msg = message_for(*rec);
  msg.payload = payload;
  push_outcome r = push_outcome::refused;
  try {
    r = backend_->push(msg, req.policy, until);
  } catch (const error& e) {
    refuse(rec, e.code_value(), std::string(where) + ": " + e.what());
  }
  if (r == push_outcome::accepted) return;
  if (r == push_outcome::refused) {
    bool failed = false;
    std::string why;
    {
      const std::lock_guard<std::mutex> lock(m_);
      failed = phase_ == pool_phase::failed;
      why = failed ? "the pool failed: " + failure_ : "the pool is closed";
    }
    refuse(rec, failed ? errc::spawn_failed : errc::closed, std::string(where) + ": " + why + " (tag '" + rec->tag + "')");
  }
  refuse(rec, errc::full,
         std::string(where) + (req.policy == space_policy::fail_fast
                                   ? ": the queue is full (max_queue " + std::to_string(opts_.max_queue) + ", tag '"
                                   : ": the queue stayed full for " + std::to_string(req.timeout.count()) +
                                         " ms (tag '") +
             rec->tag + "')");
}

task_message pool_front::message_for(const task_record& rec) const {
  task_message m;
  m.id = rec.id;
  m.attempt = rec.attempt;
  m.flags = rec.flags;
  m.tag = rec.tag;
  m.task = rec.task;
  m.payload = rec.payload;
  m.timeout = rec.timeout;
  return m;
}

// ---- what the backend reports ------------------------------------------------------------

void pool_front::tasks_started(std::span<const started_task> started) noexcept {
  if (!opts_.observer) return;
  const std::lock_guard<std::mutex> lock(m_);
  for (const started_task& s : started) {
    const auto it = inflight_.find(s.id);
    if (it == inflight_.end() || !it->second->keyed) continue;
    opts_.observer->task_started(it->second->tag, s.worker_pid, static_cast<int>(s.attempt));
  }
}

void pool_front::tasks_finished(std::vector<finished_task>& finished) {
  const std::lock_guard<std::mutex> lock(m_);
  for (auto& [id, r] : finished) {
    const auto it = inflight_.find(id);
    if (it == inflight_.end()) continue;  // an attempt given up on already
    std::shared_ptr<task_record> rec = std::move(it->second);
    inflight_.erase(it);
    const std::optional<task_message> again = settle_locked(rec, std::move(r));
    // push_again never blocks nor calls back: safe under m_, which keeps the
    // record's payload alive and unchanged while the backend copies it.
    if (again && !backend_->push_again(*again)) {
      inflight_.erase(again->id);
      finish_locked(rec, make_result(task_state::cancelled, "procpool::cancelled",
                                     "the pool stopped before another attempt could run"));
    }
    // Done with it: a held tag nobody else refers to keeps only its outcome.
    if (!again) store_.let_go(std::move(rec));
  }
}

std::optional<task_message> pool_front::settle_locked(const std::shared_ptr<task_record>& rec,
                                                      procpool::result r) {
  const bool retryable =
      r.state == task_state::failed || r.state == task_state::crashed || r.state == task_state::timed_out;
  // A chunk's input that ran past its own limit is not run again: the map
  // engine sends the chunk's unfinished inputs on, uncharged.
  const bool input_timed_out = (rec->flags & message_batch_progress) != 0 && r.state == task_state::timed_out;
  if (retryable && !input_timed_out && rec->retries_left > 0 &&
      (phase_ == pool_phase::running || phase_ == pool_phase::closing)) {
    --rec->retries_left;
    rec->attempt_errors.push_back(std::string(to_string(r.state)) + ": " +
                                  (r.error_type.empty() ? "" : r.error_type + ": ") + r.error_message);
    // A new id: the next attempt has its own time limit, and a late report of
    // this one (a thread that outlived its limit) cannot be taken for it.
    ++rec->attempt;
    rec->id = next_id_++;
    inflight_.emplace(rec->id, rec);
    return message_for(*rec);
  }
  // A task that gave up because terminate() asked it to stop (thread mode: it
  // saw stop_requested() and threw) ends as in process mode: cancelled.
  if (r.state == task_state::failed && (phase_ == pool_phase::terminating || phase_ == pool_phase::terminated)) {
    r.state = task_state::cancelled;
    r.error_message = "stopped by terminate(): " + r.error_message;
  }
  // attempts counts starts: a tag dropped from the queue never started its current attempt.
  if (r.attempts == 0) r.attempts = static_cast<int>(rec->attempt) - 1;
  finish_locked(rec, std::move(r));
  return std::nullopt;
}

void pool_front::finish_locked(const std::shared_ptr<task_record>& rec, procpool::result r) {
  // The front's retries came first; a backend may add runs of the last attempt
  // that ended without an outcome of their own (the MPI backend: a lost rank).
  rec->attempt_errors.insert(rec->attempt_errors.end(), std::make_move_iterator(r.attempt_errors.begin()),
                             std::make_move_iterator(r.attempt_errors.end()));
  r.attempt_errors = std::move(rec->attempt_errors);
  std::optional<procpool::result> for_channel;
  task_state state = r.state;
  {
    const std::lock_guard<std::mutex> lock(rec->m);
    if (rec->terminal) return;  // a tag is reported once: the first terminal state wins
    rec->terminal = true;
    r.tag = rec->tag;
    rec->res = std::move(r);
    // Everything read from the outcome is read before it is ready: once it is,
    // its waiter may move it out (await_result_last), so nothing here reads it.
    count_locked(*rec);
    if (rec->channel) for_channel = rec->res;
    if (!rec->has_callbacks) rec->ready = true;
  }
  // A finished task keeps nothing it no longer needs.
  std::vector<std::uint8_t>().swap(rec->payload);
  if (for_channel) {
    {
      const std::lock_guard<std::mutex> lock(rec->channel->m);
      rec->channel->finished.push_back(std::move(*for_channel));
    }
    rec->channel->cv.notify_all();
  }
  if (opts_.observer && rec->keyed) opts_.observer->task_finished(rec->tag, state);
  if (rec->has_callbacks) callbacks_.enqueue_locked(rec);
  // Also with callbacks pending: a waiter on a callback thread needs only the outcome.
  rec->cv.notify_all();
  cv_.notify_all();
}

void pool_front::count_locked(const task_record& rec) {
  std::size_t n = rec.items;
  if ((rec.flags & message_batch) != 0) {
    // A chunk: each input that ran counts as done or failed on its own. Of a
    // chunk cut short, one input takes the state below, and the map engine
    // sends the rest on again (counted then).
    try {
      if (const std::optional<batch_items> items = batch_outcome_items(rec.res.value)) {
        const std::size_t failed = batch_failures(*items);
        counters_.done += items->count - failed;
        counters_.failed += failed;
        n = rec.res.state == task_state::done ? 0 : 1;
      }
    } catch (const error&) {
      // Unreadable: the map engine reports it to its caller; counted as one.
    }
  }
  switch (rec.res.state) {
    case task_state::done: counters_.done += n; break;
    case task_state::failed: counters_.failed += n; break;
    case task_state::timed_out: counters_.timed_out += n; break;
    case task_state::crashed: counters_.crashed += n; break;
    case task_state::cancelled: counters_.cancelled += n; break;
    case task_state::queued:
    case task_state::running: break;
  }
}

void pool_front::backend_failed(const std::string& why, std::vector<std::uint64_t> dropped) {
  // Called once before the backend stops its intake (the phase, the message)
  // and once after (what it dropped): a submission between the two is
  // refused as failed, never as closed.
  bool first = false;
  {
    const std::lock_guard<std::mutex> lock(m_);
    if (phase_ == pool_phase::running || phase_ == pool_phase::closing) {
      phase_ = pool_phase::failed;
      failure_ = why;
      first = true;
    }
  }
  if (first) {
    // Said before any of its effects can be seen: a caller whose submission
    // is refused because the pool failed finds the reason already reported.
    diagnose(opts_, "pool failed: " + why);
    if (opts_.observer) opts_.observer->pool_failed(why);
    store_.stop_intake(errc::spawn_failed, "the pool failed: " + why);
  }
  cancel_ids(dropped, "the pool failed: " + why);
}

void pool_front::workers_changed() noexcept {
  { const std::lock_guard<std::mutex> lock(m_); }  // a waiter is either before its check or asleep
  cv_.notify_all();
}

void pool_front::cancel_ids(const std::vector<std::uint64_t>& ids, const std::string& why) {
  const std::lock_guard<std::mutex> lock(m_);
  for (const std::uint64_t id : ids) {
    const auto it = inflight_.find(id);
    if (it == inflight_.end()) continue;
    const std::shared_ptr<task_record> rec = std::move(it->second);
    inflight_.erase(it);
    procpool::result r = make_result(task_state::cancelled, "procpool::cancelled", why);
    r.attempts = static_cast<int>(rec->attempt) - 1;
    finish_locked(rec, std::move(r));
  }
}

// ---- waiting for results ----------------------------------------------------------------

procpool::result pool_front::wait_tag(std::string_view tag, bool remove) {
  return store_.wait(tag, remove, remove ? "pool::take" : "pool::result");
}

std::map<std::string, procpool::result> pool_front::results() { return store_.wait_all(); }

void pool_front::delivered(const std::shared_ptr<task_record>& rec) { store_.delivered(rec); }

void pool_front::forget(const std::shared_ptr<task_record>& rec) { store_.erase(rec); }

void pool_front::let_go(std::shared_ptr<task_record>&& rec) noexcept { store_.let_go(std::move(rec)); }

// ---- lifecycle ------------------------------------------------------------------------------

void pool_front::close() {
  {
    const std::lock_guard<std::mutex> lock(m_);
    if (phase_ != pool_phase::running) return;
    phase_ = pool_phase::closing;
  }
  store_.stop_intake(errc::closed, "the pool is closed");
  backend_->close();
}

std::size_t pool_front::cancel_queued() {
  const std::vector<std::uint64_t> dropped = backend_->drop_queued();
  std::size_t n = 0;
  {
    const std::lock_guard<std::mutex> lock(m_);
    for (const std::uint64_t id : dropped) n += inflight_.count(id);
  }
  cancel_ids(dropped, "dropped from the queue by cancel_queued()");
  return n;
}

bool pool_front::quiescent_locked() const {
  return inflight_.empty() && callbacks_.idle_locked() && backend_->all_exited();
}

void pool_front::join() {
  if (callbacks_.is_this_thread()) {
    throw error(errc::invalid_argument, "pool::join: called from a callback (it would wait for itself)");
  }
  std::unique_lock<std::mutex> lock(m_);
  if (phase_ == pool_phase::running) throw error(errc::not_closed, "pool::join: call close() or terminate() first");
  cv_.wait(lock, [&] { return quiescent_locked(); });
  joined_ = true;
}

void pool_front::terminate(std::optional<std::chrono::milliseconds> grace) {
  if (grace && grace->count() < 0) throw error(errc::invalid_argument, "pool::terminate: negative grace");
  {
    std::unique_lock<std::mutex> lock(m_);
    if (joined_ || phase_ == pool_phase::terminated) return;
    if (phase_ == pool_phase::terminating) {
      cv_.wait(lock, [&] { return phase_ == pool_phase::terminated; });
      return;
    }
    phase_ = pool_phase::terminating;
  }
  store_.stop_intake(errc::closed, "the pool is closed");
  const std::vector<std::uint64_t> dropped = backend_->stop(grace.value_or(opts_.terminate_grace));
  cancel_ids(dropped, "dropped from the queue by terminate()");
  // The backend stops what still runs: SIGTERM, SIGKILL when the grace ends
  // (processes), or gives up on it (threads).
  backend_->wait_stopped();
  {
    const std::lock_guard<std::mutex> lock(m_);
    phase_ = pool_phase::terminated;
  }
  cv_.notify_all();
}

void pool_front::shutdown() noexcept {
  try {
    bool need_terminate = false;
    {
      const std::lock_guard<std::mutex> lock(m_);
      if (stopped_threads_) return;
      need_terminate = !joined_ && phase_ != pool_phase::terminated;
    }
    if (need_terminate) terminate();
    {
      std::unique_lock<std::mutex> lock(m_);
      // Thread mode: a task that ignored stop_requested() still owns its thread.
      cv_.wait(lock, [&] { return quiescent_locked(); });
      stopped_threads_ = true;
    }
    callbacks_.stop();
    backend_->shutdown();
  } catch (const std::exception& e) {
    diagnose(opts_, std::string("pool shutdown failed: ") + e.what());
  }
}

// ---- reads ------------------------------------------------------------------------------------

pool_stats pool_front::stats() const {
  pool_stats s;
  {
    const std::lock_guard<std::mutex> lock(m_);
    s = counters_;
    s.callback_errors = callbacks_.errors_locked();
  }
  s.submitted = submitted_.load(std::memory_order_relaxed);
  backend_->add_stats(s);
  return s;
}

task_state pool_front::live_state(const task_record& rec) const {
  std::uint64_t id = 0;
  {
    const std::lock_guard<std::mutex> lock(m_);
    id = rec.id;
  }
  return backend_->running(id) ? task_state::running : task_state::queued;
}

}  // namespace procpool::detail
