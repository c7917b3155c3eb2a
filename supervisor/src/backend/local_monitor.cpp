// The local backend's monitor thread: starts workers, collects results, reaps
// and attributes, arms and enforces time limits and stop()'s grace.
#include "backend/local_backend.hpp"
#include "outcomes.hpp"

#include <procpool/shared/detail/codec.hpp>
#include <procpool/shared/detail/fault.hpp>
#include <procpool/shared/error.hpp>

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <exception>

namespace procpool::detail {
namespace {

using steady = std::chrono::steady_clock;

row_state state_of(const worker_row& row) noexcept {
  return static_cast<row_state>(row.state.load(std::memory_order_acquire));
}

void consider(std::optional<steady::time_point>& next, steady::time_point t) {
  if (!next || t < *next) next = t;
}

}  // namespace

void local_backend::monitor_loop() noexcept {
  for (;;) {
    try {
      report r;
      monitor_pass(r);
      bool stop_now = false;
      {
        const std::lock_guard<std::mutex> lock(m_);
        stop_now = stop_threads_ && alive_ == 0 && backlog_.empty();
      }
      if (stop_now) return;
    } catch (const std::exception& e) {
      monitor_fault(e.what());
    } catch (...) {
      monitor_fault("a non-standard exception");
    }
  }
}

void local_backend::monitor_pass(report& out) {
  if (!fault_checked_) {
    fault_checked_ = true;  // the test point is armed for the first pass only: off the hot path
    fault_throw("monitor_loop");
  }
  // Each step reports before the next: a fault in one loses nothing found before it.
  const bool worked = drain_results(out);
  deliver(out);
  reap_finished_workers(out);
  deliver(out);
  const bool backlog = push_backlog(out);
  deliver(out);
  maybe_spawn(out);
  deliver(out);
  enforce_stop_deadline(out);
  deliver(out);
  std::optional<steady::time_point> wake_at = enforce_time_limits(out);
  deliver(out);
  if (backlog) consider(wake_at, steady::now() + std::chrono::milliseconds(10));
  {
    const std::lock_guard<std::mutex> lock(m_);
    if (stop_threads_ && alive_ == 0 && backlog_.empty()) return;
    if (stop_deadline_) consider(wake_at, *stop_deadline_);
  }
  sleep_until_event(wake_at, worked);
}

void local_backend::monitor_fault(const std::string& what) noexcept {
  // The monitor cannot trust its own state any more: fail the backend (the
  // front ends every queued tag), ask the workers to leave, and keep
  // collecting: running tasks still end, and their workers must be reaped.
  try {
    bool first = false;
    {
      const std::lock_guard<std::mutex> lock(m_);
      first = phase_ == phase::running || phase_ == phase::closing;
      if (first) phase_ = phase::failed;
    }
    if (first) {
      report r;
      r.failure = "internal fault in the pool's monitor thread: " + what;
      fail_now(r);
      deliver(r);
    }
    // Do not spin if the fault repeats.
    pollfd p{wake_fd_, POLLIN, 0};
    (void)::poll(&p, 1, 10);
  } catch (...) {
    // Nothing more can be done on this pass; the loop tries again.
  }
}

void local_backend::deliver(report& r) {
  if (!r.started.empty()) listener_->tasks_started(r.started);
  if (!r.finished.empty()) listener_->tasks_finished(r.finished);
  if (r.failure) listener_->backend_failed(*r.failure, std::move(r.dropped));
  if (r.workers_changed) listener_->workers_changed();
  if (r.stop_settled) {
    {
      const std::lock_guard<std::mutex> lock(m_);
      stop_settled_ = true;
    }
    cv_.notify_all();
  }
  r = report{};
}

void local_backend::sleep_until_event(std::optional<steady::time_point> wake_at, bool worked) {
  int timeout_ms = -1;
  if (wake_at) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(*wake_at - steady::now());
    timeout_ms = static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 60'000));
  }
  // The slots change only on this thread, so it reads them without the lock.
  std::vector<pollfd> fds;
  std::vector<std::uint32_t> fd_slot;
  fds.push_back({wake_fd_, POLLIN, 0});
  fds.push_back({launcher_->event_fd(), POLLIN, 0});
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].used && slots_[i].handle.pidfd >= 0 && !slots_[i].dead) {
      fds.push_back({slots_[i].handle.pidfd, POLLIN, 0});
      fd_slot.push_back(i);
    }
  }
  if (worked) {
    timeout_ms = 0;
  } else {
    // Announce the sleep, then look once more: a worker that published (or
    // claimed a watched message) before seeing the flag is found here; one
    // after it writes the eventfd.
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
  if (n <= 0) return;
  if ((fds[0].revents & POLLIN) != 0) {
    std::uint64_t v = 0;
    [[maybe_unused]] const ssize_t r = ::read(wake_fd_, &v, sizeof v);
  }
  if (fds[1].revents != 0) launcher_->on_event();
  const std::lock_guard<std::mutex> lock(m_);
  for (std::size_t k = 2; k < fds.size(); ++k) {
    if (fds[k].revents != 0) slots_[fd_slot[k - 2]].dead = true;
  }
}

bool local_backend::anything_pending() const {
  const std::lock_guard<std::mutex> lock(m_);
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    if (!slots_[i].used) continue;
    if (results_pending(hdr_, i)) return true;
    const worker_row& row = row_at(hdr_, i);
    if (slots_[i].handle.pidfd < 0 && state_of(row) == row_state::exited) return true;
    if (watched_.empty()) continue;
    const std::uint64_t c = row.claimed.load(std::memory_order_acquire);
    if (c != slots_[i].watched_id) return true;
    if (c != 0 && row.batch_item.load(std::memory_order_acquire) != slots_[i].watched_item) return true;
  }
  return false;
}

// ---- results -------------------------------------------------------------------------

bool local_backend::drain_results(report& out) {
  bool any = false;
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].used && results_pending(hdr_, i)) {
      drain_row(i, out);
      any = true;
    }
  }
  return any;
}

bool local_backend::read_record(const incoming_result& in, int pid, procpool::result& r) {
  if (in.state == result_batch_item) {
    const std::lock_guard<std::mutex> lock(m_);
    // Kept only while the attempt is watched: not for one given up on.
    if (watched_.count(in.task_id) != 0) add_batch_item(partials_[in.task_id], in.value);
    return false;
  }
  r.state = static_cast<task_state>(in.state & ~result_batch_outcome);
  r.attempts = static_cast<int>(in.attempt);
  r.worker_pid = pid;
  r.started_at = from_ns(in.started_ns);
  r.finished_at = from_ns(in.finished_ns);
  if (r.state == task_state::done) {
    // A map chunk's outcome stays bytes: the map engine reads it on its caller's thread.
    r.value = (in.state & result_batch_outcome) != 0 ? make_batch_outcome(in.value) : decode(in.value);
    return true;
  }
  r.error_type.assign(in.error_type);
  r.error_message.assign(in.error_message);
  r.error_code = errc_for(r.state);
  if (!in.value.empty()) {
    // [code, detail]: the code and detail a task_failure (or a procpool::error) carried.
    nlohmann::json v = decode(in.value);
    if (v.is_array() && v.size() == 2 && v[0].is_number_integer() && v[0].get<int>() != 0) {
      r.error_code = static_cast<errc>(v[0].get<int>());
      r.value = std::move(v[1]);
    }
  }
  return true;
}

nlohmann::json local_backend::take_partials_locked(std::uint64_t id) {
  const auto it = partials_.find(id);
  if (it == partials_.end()) return nullptr;
  nlohmann::json v = join_batch_outcomes(it->second, nullptr);
  partials_.erase(it);
  return v;
}

void local_backend::drain_row(std::uint32_t i, report& out) {
  const std::size_t first = out.finished.size();
  const int pid = row_at(hdr_, i).pid.load(std::memory_order_relaxed);
  incoming_result in{};
  while (peek_result(hdr_, i, in)) {
    procpool::result r;
    bool finished = false;
    try {
      finished = read_record(in, pid, r);
    } catch (const error& e) {
      r.state = task_state::failed;
      r.error_type = "procpool::error";
      r.error_message = e.what();
      r.error_code = errc::payload_invalid;
      finished = in.state != result_batch_item;
    }
    if (finished) out.finished.emplace_back(in.task_id, std::move(r));
    pop_result(hdr_, i, in.next_read);
  }
  const std::lock_guard<std::mutex> lock(m_);
  if (watched_.empty()) return;
  for (std::size_t k = first; k < out.finished.size(); ++k) {
    const std::uint64_t id = out.finished[k].first;
    if (watched_.erase(id) == 0) continue;
    // A progress batch: its inputs' outcomes came one by one, before the rest.
    const auto it = partials_.find(id);
    if (it != partials_.end()) {
      procpool::result& r = out.finished[k].second;
      r.value = join_batch_outcomes(it->second, r.value);
      partials_.erase(it);
    }
    // Started and finished between two looks: its start is reported first.
    if (slots_[i].watched_id != id) {
      out.started.push_back({id, pid, static_cast<std::uint32_t>(out.finished[k].second.attempts)});
    }
  }
}

bool local_backend::push_backlog(report& out) {
  const std::lock_guard<std::mutex> lock(m_);
  while (!backlog_.empty()) {
    const owned_message& b = backlog_.front();
    push_result r = push_result::full;
    {
      const queue_lock ql(hdr_);
      r = push_locked(hdr_, outgoing_message{b.id, b.attempt, b.flags, b.tag, b.task, b.payload},
                      /*is_retry=*/true);
    }
    if (r == push_result::full) break;
    if (r == push_result::refused) {
      out.finished.emplace_back(b.id, make_result(task_state::cancelled, "procpool::cancelled",
                                                  "the pool stopped before another attempt could run"));
      watched_.erase(b.id);
    }
    backlog_.pop_front();
  }
  return !backlog_.empty();
}

// ---- time limits and stop()'s grace ------------------------------------------------------

std::optional<steady::time_point> local_backend::enforce_time_limits(report& out) {
  const std::lock_guard<std::mutex> lock(m_);
  std::optional<steady::time_point> next;
  const auto now = steady::now();
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    worker_slot& slot = slots_[i];
    if (!slot.used) continue;
    if (slot.kill_at) {
      if (now >= *slot.kill_at) {
        if (!slot.killed) launcher_->signal(slot.handle, SIGKILL);
        slot.killed = true;
        slot.kill_at.reset();
      } else {
        consider(next, *slot.kill_at);
      }
    }
    if (slot.attach_deadline) {
      if (row_at(hdr_, i).attached.load(std::memory_order_acquire) != 0) {
        slot.attach_deadline.reset();
      } else if (now >= *slot.attach_deadline) {
        slot.attach_deadline.reset();
        slot.attach_timed_out = true;
        launcher_->signal(slot.handle, SIGKILL);
        slot.killed = true;
      } else {
        consider(next, *slot.attach_deadline);
      }
    }
    check_deadline_locked(i, now, out);
    if (slot.deadline && slot.timed_out_id != slot.watched_id) consider(next, *slot.deadline);
    if (slot.kill_at) consider(next, *slot.kill_at);  // armed just now by a deadline
  }
  return next;
}

void local_backend::check_deadline_locked(std::uint32_t i, steady::time_point now, report& out) {
  worker_slot& slot = slots_[i];
  worker_row& row = row_at(hdr_, i);
  const std::uint64_t c = row.claimed.load(std::memory_order_acquire);
  const std::uint32_t item = row.batch_item.load(std::memory_order_acquire);
  if (c != slot.watched_id || (c != 0 && item != slot.watched_item)) {
    // A new claim (or the next input of a progress batch): report its start and
    // arm its limit, counted from the claim (CLOCK_MONOTONIC, the steady
    // clock's, stamped by the worker).
    const bool new_claim = c != slot.watched_id;
    slot.watched_id = c;
    slot.watched_item = item;
    slot.deadline.reset();
    const auto it = c != 0 ? watched_.find(c) : watched_.end();
    if (it != watched_.end()) {
      if (new_claim) {
        out.started.push_back({c, row.pid.load(std::memory_order_relaxed),
                               row.claim_attempt.load(std::memory_order_relaxed)});
      }
      if (it->second.count() > 0) {
        const steady::time_point claimed_at{
            std::chrono::nanoseconds(row.claim_mono_ns.load(std::memory_order_relaxed))};
        slot.deadline = saturating_add(claimed_at, it->second);
      }
    }
  }
  if (c == 0 || !slot.deadline || slot.timed_out_id == c || now < *slot.deadline) return;
  slot.timed_out_id = c;
  row.stop.store(1, std::memory_order_release);
  if (launcher_->can_kill()) {
    launcher_->signal(slot.handle, SIGTERM);
    slot.kill_at = saturating_add(now, opts_.kill_grace);
    return;
  }
  // A thread cannot be stopped: the attempt ends now; the thread's late
  // report names an id the front has let go of.
  const auto it = watched_.find(c);
  const auto limit = it != watched_.end() ? it->second : std::chrono::milliseconds(0);
  procpool::result r = make_result(task_state::timed_out, "procpool::task_timeout",
                                   "ran past its time limit of " + std::to_string(limit.count()) +
                                       " ms; a thread cannot be stopped, it finishes in the background");
  r.attempts = static_cast<int>(row.claim_attempt.load(std::memory_order_relaxed));
  r.worker_pid = ::getpid();
  r.started_at = from_ns(row.claim_started_ns.load(std::memory_order_relaxed));
  r.value = take_partials_locked(c);
  out.finished.emplace_back(c, std::move(r));
  watched_.erase(c);
}

void local_backend::enforce_stop_deadline(report& out) {
  const std::lock_guard<std::mutex> lock(m_);
  if (!stop_deadline_ || steady::now() < *stop_deadline_) return;
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    worker_slot& slot = slots_[i];
    if (!slot.used) continue;
    if (launcher_->can_kill()) {
      if (!slot.killed) launcher_->signal(slot.handle, SIGKILL);
      slot.killed = true;
      continue;
    }
    const worker_row& row = row_at(hdr_, i);
    const std::uint64_t claimed = row.claimed.load(std::memory_order_acquire);
    if (claimed == 0) continue;
    procpool::result r = make_result(task_state::cancelled, "procpool::cancelled",
                                     "still running when terminate()'s grace ended; "
                                     "its thread finishes in the background");
    r.attempts = static_cast<int>(row.claim_attempt.load(std::memory_order_relaxed));
    r.worker_pid = ::getpid();
    out.finished.emplace_back(claimed, std::move(r));
  }
  // Killed workers are settled when reaped; threads are abandoned now.
  stop_deadline_.reset();
  if (!launcher_->can_kill()) out.stop_settled = true;
}

}  // namespace procpool::detail
