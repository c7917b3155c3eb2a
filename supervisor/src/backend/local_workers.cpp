// The local backend's worker lifecycle, on the monitor thread: start workers
// as demand needs, reap them, attribute a dead worker's claim, count start
// failures against the restart limit.
#include "backend/local_backend.hpp"
#include "outcomes.hpp"

#include <procpool/shared/error.hpp>

#include <unistd.h>

namespace procpool::detail {
namespace {

using steady = std::chrono::steady_clock;

}  // namespace

void local_backend::reap_finished_workers(report& out) {
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    const worker_slot& slot = slots_[i];
    if (!slot.used) continue;
    const bool gone = slot.handle.pidfd >= 0
                          ? slot.dead
                          : row_at(hdr_, i).state.load(std::memory_order_acquire) ==
                                static_cast<std::uint32_t>(row_state::exited);
    if (!gone) continue;
    const exit_status how = launcher_->reap(i, slot.handle);
    release_slot(i, how, out);
  }
}

void local_backend::release_slot(std::uint32_t i, const exit_status& how, report& out) {
  worker_row& row = row_at(hdr_, i);
  drain_row(i, out);  // results it published before it went count first
  std::uint64_t claimed = 0;
  {
    const queue_lock lock(hdr_);  // repairs the queue if the worker died holding it
    claimed = row.claimed.load(std::memory_order_acquire);
    if (claimed != 0 && claimed == head_task_id_locked(hdr_)) claimed = 0;  // never taken
    // A push woke one idle worker; if it was this one, the wake died with it:
    // whoever else idles must look at the queue again.
    if (!ring_empty_locked(hdr_)) hdr_->queue.not_empty.notify_all();
  }
  const auto st = static_cast<row_state>(row.state.load(std::memory_order_acquire));
  const bool never_ready = st == row_state::starting || how.exit_code == exit_start_failed;
  const bool clean = !how.signal && how.exit_code == 0;
  const bool attached = row.attached.load(std::memory_order_acquire) != 0;
  std::string start_error;
  if (row.start_error_len.load(std::memory_order_acquire) != 0) start_error = row.start_error;
  const int pid = slots_[i].handle.pid;
  bool failed_now = false;
  {
    const std::lock_guard<std::mutex> lock(m_);
    worker_slot& slot = slots_[i];
    if (claimed != 0) attribute_claim_locked(i, claimed, how, out);
    if (slot.attach_timed_out) {
      failed_now = record_start_failure_locked(launcher_->attach_failure(), out);
    } else if (never_ready && (!clean || !attached)) {
      failed_now = record_start_failure_locked(
          !start_error.empty() ? start_error : launcher_->start_failure(slot.handle, how, attached), out);
    } else if (clean) {
      ++counters_.worker_exits;
    } else {
      ++counters_.worker_deaths;
    }
    reset_row_locked(i);
    slot = worker_slot{};
    --alive_;
    if (alive_ == 0 && phase_ == phase::stopping) {
      out.stop_settled = true;
      stop_deadline_.reset();  // nothing left to kill: the monitor may sleep
    }
  }
  cv_.notify_all();
  out.workers_changed = true;
  if (opts_.observer) opts_.observer->worker_exited(pid, how.exit_code, how.signal, how.describe());
  if (failed_now) fail_now(out);
}

void local_backend::attribute_claim_locked(std::uint32_t i, std::uint64_t claimed, const exit_status& how,
                                           report& out) {
  worker_slot& slot = slots_[i];
  worker_row& row = row_at(hdr_, i);
  const bool stopping = phase_ == phase::stopping;
  const bool timed_out = claimed == slot.timed_out_id;
  const int pid = slot.handle.pid > 0 ? slot.handle.pid : ::getpid();
  if (!stopping && !timed_out && slot.timed_out_id != 0) {
    // Killed for another attempt's time limit just after that one finished
    // and this one was claimed: not this attempt's fault. Run it again as it
    // was (same id and attempt), from the copy in the claim buffer.
    const claimed_message m = read_claim(hdr_, i);
    partials_.erase(m.task_id);  // it runs again from its first input
    push_result r = push_result::full;
    {
      const queue_lock ql(hdr_);
      r = push_locked(hdr_, outgoing_message{m.task_id, m.attempt, m.flags, m.tag, m.task_name, m.args},
                      /*is_retry=*/true);
    }
    if (r == push_result::ok) return;
    if (r == push_result::full) {
      backlog_.push_back(owned_message{m.task_id, m.attempt, m.flags, std::string(m.tag),
                                       std::string(m.task_name),
                                       std::vector<std::uint8_t>(m.args.begin(), m.args.end())});
      return;
    }
  }
  procpool::result r;
  if (stopping) {
    r = make_result(task_state::cancelled, "procpool::cancelled",
                    "worker " + std::to_string(pid) + " " + how.describe() + " after terminate()");
  } else if (timed_out) {
    const auto it = watched_.find(claimed);
    const auto limit = it != watched_.end() ? it->second : std::chrono::milliseconds(0);
    r = make_result(task_state::timed_out, "procpool::task_timeout",
                    "ran past its time limit of " + std::to_string(limit.count()) + " ms; worker " +
                        std::to_string(pid) + " " + how.describe());
  } else {
    r = make_result(task_state::crashed, "procpool::worker_crashed",
                    "worker " + std::to_string(pid) + " " + how.describe() + " while running the task");
  }
  r.exit_code = how.exit_code;
  r.signal = how.signal;
  r.attempts = static_cast<int>(row.claim_attempt.load(std::memory_order_relaxed));
  r.worker_pid = pid;
  r.started_at = from_ns(row.claim_started_ns.load(std::memory_order_relaxed));
  r.value = take_partials_locked(claimed);  // a progress batch: the inputs it finished
  watched_.erase(claimed);
  out.finished.emplace_back(claimed, std::move(r));
}

namespace {
/// A row as nobody has used it: no claim, no stop request, empty result ring.
/// Requires: no worker writes the row.
void clear_row(worker_row& row, row_state state) noexcept {
  row.claimed.store(0, std::memory_order_relaxed);
  row.stop.store(0, std::memory_order_relaxed);
  row.pid.store(0, std::memory_order_relaxed);
  row.start_error_len.store(0, std::memory_order_relaxed);
  row.attached.store(0, std::memory_order_relaxed);
  row.res_read.store(0, std::memory_order_relaxed);
  row.res_write.store(0, std::memory_order_relaxed);
  row.state.store(static_cast<std::uint32_t>(state), std::memory_order_release);
}
}  // namespace

void local_backend::reset_row_locked(std::uint32_t i) {
  // Back to an empty row; its result ring is empty and nobody writes it now.
  clear_row(row_at(hdr_, i), row_state::empty);
  if (slots_[i].handle.pidfd >= 0) ::close(slots_[i].handle.pidfd);
}

void local_backend::fail_now(report& out) {
  // The front hears of the failure before intake stops, so that a submission
  // refused from now on is refused as failed; what was queued follows.
  listener_->backend_failed(*out.failure, {});
  out.dropped = stop_intake(/*drop=*/true);
}

bool local_backend::record_start_failure_locked(const std::string& why, report& out) {
  ++counters_.start_failures;
  const auto now = steady::now();
  start_failures_.push_back(now);
  while (!start_failures_.empty() && now - start_failures_.front() > opts_.start_failure_window) {
    start_failures_.pop_front();
  }
  if (static_cast<int>(start_failures_.size()) <= opts_.max_start_failures) return false;
  if (phase_ != phase::running && phase_ != phase::closing) return false;
  phase_ = phase::failed;
  out.failure = why;
  return true;
}

// ---- starting workers ------------------------------------------------------------------

void local_backend::maybe_spawn(report& out) {
  for (;;) {
    std::uint32_t index = 0;
    {
      const std::lock_guard<std::mutex> lock(m_);
      if (!spawn_wanted_locked()) return;
      while (slots_[index].used) ++index;
      clear_row(row_at(hdr_, index), row_state::starting);
      slots_[index].used = true;
      ++alive_;
      ++counters_.workers_started;
    }
    spawn_one(index, out);
    if (out.failure) return;
  }
}

void local_backend::spawn_one(std::uint32_t i, report& out) {
  worker_config cfg = base_config();
  cfg.index = i;
  std::string failure;
  bool failed_now = false;
  try {
    const worker_handle h = launcher_->launch(cfg);
    {
      const std::lock_guard<std::mutex> lock(m_);
      slots_[i].handle = h;
      if (const auto t = launcher_->attach_timeout()) slots_[i].attach_deadline = saturating_add(steady::now(), *t);
    }
    out.workers_changed = true;
    if (opts_.observer) opts_.observer->worker_started(static_cast<int>(h.pid));
    return;
  } catch (const std::exception& e) {
    failure = e.what();
  }
  {
    const std::lock_guard<std::mutex> lock(m_);
    row_at(hdr_, i).state.store(static_cast<std::uint32_t>(row_state::empty), std::memory_order_release);
    slots_[i] = worker_slot{};
    --alive_;
    failed_now = record_start_failure_locked("could not start a worker: " + failure, out);
  }
  cv_.notify_all();
  out.workers_changed = true;
  if (failed_now) fail_now(out);
}

}  // namespace procpool::detail
