// The MPI backend's thread on rank 0: sends pending tasks to ranks with
// credits (in batches), receives outcomes and the agents' state, sends
// control words; never waits inside MPI (see mpi_backend.hpp).
#include "backend/mpi/mpi_backend.hpp"

#include "backend/mpi/mpi_handshake.hpp"
#include "front/diagnostics.hpp"
#include "outcomes.hpp"

#include <mpi.h>

#include <algorithm>
#include <iterator>
#include <utility>

namespace procpool::detail::mpi {

void mpi_backend::mpi_loop() noexcept {
  backoff pause;
  try {
    for (;;) {
      const bool worked = mpi_pass();
      std::unique_lock<std::mutex> lock(m_);
      if (ended_) break;
      if (worked || woken_) {
        woken_ = false;
        pause.reset();
        continue;
      }
      // Lock held: a push sets woken_ under m_ before it notifies, so it is
      // either seen above or wakes this wait.
      wake_cv_.wait_for(lock, pause.next());
    }
  } catch (const std::exception& e) {
    // A fault in the messaging itself: the job cannot go on consistently.
    diagnose(opts_, std::string("mpi backend: ") + e.what() + ": aborting the MPI job");
    MPI_Abort(MPI_COMM_WORLD, 70);
  }
}

bool mpi_backend::mpi_pass() {
  bool worked = receive_all();
  outgoing out;
  bool end = false;
  std::vector<finished_task> crashed;
  std::vector<std::string> notes;
  {
    const std::lock_guard<std::mutex> lock(m_);
    check_silent_locked(crashed, notes);
    out = take_outgoing_locked();
    end = end_wanted_;
  }
  for (const std::string& n : notes) diagnose(opts_, n);
  if (!crashed.empty()) {
    listener_->tasks_finished(crashed);
    stopped_cv_.notify_all();
  }
  if (!notes.empty()) listener_->workers_changed();
  worked = send_outgoing(out) || worked;
  worked = transport_.progress() || worked;
  if (end) end_agents();
  return worked;
}

mpi_backend::outgoing mpi_backend::take_outgoing_locked() {
  outgoing out;
  out.batches.resize(ranks_.size());
  // Round robin, one task per rank with credits per turn: work spreads evenly.
  bool any = phase_ != phase::stopping;
  while (any && !pending_.empty()) {
    any = false;
    for (std::size_t k = 0; k < ranks_.size() && !pending_.empty(); ++k) {
      const std::size_t r = (next_rank_ + k) % ranks_.size();
      rank_slot& slot = ranks_[r];
      if (slot.in_flight.size() >= slot.credits) continue;
      owned_task t = std::move(pending_.front());
      pending_.pop_front();
      slot.in_flight.emplace(t.id, t);
      slot.max_in_flight = std::max(slot.max_in_flight, slot.in_flight.size());
      out.batches[r].push_back(std::move(t));
      any = true;
    }
    next_rank_ = (next_rank_ + 1) % ranks_.size();
  }
  if (drop_wanted_) {
    drop_wanted_ = false;
    out.controls.push_back(control_op::drop);
  }
  if (stop_wanted_ && !stop_sent_) {
    stop_sent_ = true;
    out.controls.push_back(control_op::stop);
    out.grace = stop_grace_;
  }
  if (phase_ == phase::closing && !close_sent_ && pending_.empty()) {
    // Only once every task went: an agent that closes leaves when its queue is empty.
    close_sent_ = true;
    out.controls.push_back(control_op::close);
    out.close_local = true;
  }
  return out;
}

bool mpi_backend::send_outgoing(outgoing& out) {
  bool worked = false;
  std::vector<finished_task> refused;
  for (std::size_t r = 0; r < out.batches.size(); ++r) {
    std::vector<owned_task>& batch = out.batches[r];
    if (batch.empty()) continue;
    worked = true;
    if (r != 0) {
      transport_.send(static_cast<int>(r), wire_tag::tasks, pack_tasks(batch));
      continue;
    }
    for (const owned_task& t : batch) {
      if (!local_->push_again(t.view())) {
        refused.emplace_back(t.id, make_result(task_state::cancelled, "procpool::cancelled",
                                               "the pool stopped before the task could run"));
      }
    }
  }
  if (worked) space_cv_.notify_all();
  for (const control_op op : out.controls) {
    for (int r = 1; r < world_.size; ++r) {
      if (!lost(r)) transport_.send(r, wire_tag::control, pack_control(op, out.grace));
    }
    worked = true;
  }
  if (out.close_local) local_->close();
  if (!refused.empty()) tasks_finished(refused);
  if (!out.controls.empty()) stopped_cv_.notify_all();
  return worked;
}

bool mpi_backend::receive_all() {
  bool any = false;
  while (std::optional<incoming> in = transport_.receive()) {
    any = true;
    if (in->tag == wire_tag::results) on_results(in->source, in->bytes);
  }
  return any;
}

void mpi_backend::on_results(int rank, std::span<const std::uint8_t> bytes) {
  std::vector<finished_task> done;
  std::vector<started_task> started;
  agent_state st;
  unpack_results(bytes, done, started, st);
  std::string failure;
  {
    const std::lock_guard<std::mutex> lock(m_);
    rank_slot& k = ranks_[static_cast<std::size_t>(rank)];
    k.last_heard = std::chrono::steady_clock::now();
    if (k.lost) return;  // its tasks run elsewhere now; what it says is too late
    // Starts first: a task that started and ended within one report has both.
    for (const started_task& s : started) {
      if (k.in_flight.count(s.id) != 0) k.claimed.insert(s.id);
    }
    for (auto& [id, r] : done) {
      k.in_flight.erase(id);
      k.claimed.erase(id);
      ++k.finished;
      r.rank = rank;
      r.host = k.who.host;
      add_lost_runs_locked(id, r);
    }
    if (k.state.failure.empty() && !st.failure.empty()) {
      failure = "rank " + std::to_string(rank) + " (host " + k.who.host + "): " + st.failure;
      k.credits = 0;  // it runs nothing more
    }
    k.state = std::move(st);
  }
  stopped_cv_.notify_all();
  // Starts first: a task that started and ended within one report has both.
  if (!started.empty()) listener_->tasks_started(started);
  if (!done.empty()) listener_->tasks_finished(done);
  listener_->workers_changed();
  if (!failure.empty()) {
    listener_->backend_failed(failure, {});
    std::vector<std::uint64_t> dropped = stop(opts_.terminate_grace);
    listener_->backend_failed(failure, std::move(dropped));
  }
}

void mpi_backend::end_agents() noexcept {
  bool lost_one = false;
  {
    const std::lock_guard<std::mutex> lock(m_);
    if (ended_) return;
    ended_ = true;
    lost_one = any_lost_;
  }
  // With a rank lost the job ends through MPI_Abort, and the other agents must
  // not be inside MPI_Finalize then: its closing fence waits for the lost rank,
  // and Open MPI's launcher, tearing down a job with that fence pending, may
  // crash or hang instead of exiting with the abort's code. So they are told to
  // stop their workers and keep serving (idle) until the abort reaps them.
  const std::vector<std::uint8_t> last = pack_control(lost_one ? control_op::stop : control_op::end);
  try {
    for (int r = 1; r < world_.size; ++r) {
      if (!lost(r)) transport_.send(r, wire_tag::control, last);
    }
    // A send to a lost rank may never complete; the job ends through MPI_Abort.
    if (!lost_one) flush(transport_);
  } catch (const std::exception& e) {
    diagnose(opts_, std::string("mpi backend: ending the agents: ") + e.what());
  }
}

void mpi_backend::check_silent_locked(std::vector<finished_task>& crashed, std::vector<std::string>& notes) {
  if (opts_.mpi_heartbeat_limit.count() <= 0) return;
  const auto now = std::chrono::steady_clock::now();
  for (std::size_t r = 1; r < ranks_.size(); ++r) {
    rank_slot& k = ranks_[r];
    if (k.lost || ended_ || now - k.last_heard <= opts_.mpi_heartbeat_limit) continue;
    k.lost = true;
    k.credits = 0;
    any_lost_ = true;
    const std::string who = "rank " + std::to_string(r) + " (host " + k.who.host + ", pid " +
                            std::to_string(k.who.pid) + ")";
    std::string tags;
    for (auto& [id, t] : k.in_flight) {
      tags += (tags.empty() ? "" : ", ") + t.tag;
      std::vector<std::string>& runs = lost_runs_[id];
      if (runs.empty()) {
        runs.push_back("rank_lost: procpool::rank_lost: " + who + " went silent while it held the task");
        pending_.push_front(std::move(t));  // runs again elsewhere, not charged to its retries
        continue;
      }
      procpool::result res = make_result(task_state::crashed, "procpool::rank_lost",
                                         who + " went silent while it held the task, the second rank lost with it");
      res.error_code = errc::worker_crashed;
      res.rank = static_cast<int>(r);
      res.host = k.who.host;
      res.attempts = static_cast<int>(t.attempt);
      add_lost_runs_locked(id, res);
      crashed.emplace_back(id, std::move(res));
    }
    k.in_flight.clear();
    k.claimed.clear();
    notes.push_back(who + " was silent for over " + std::to_string(opts_.mpi_heartbeat_limit.count()) +
                    " ms: nothing more is sent to it; its tags (" + (tags.empty() ? "none" : tags) +
                    ") run on other ranks");
  }
}

void mpi_backend::add_lost_runs_locked(std::uint64_t id, procpool::result& r) {
  const auto it = lost_runs_.find(id);
  if (it == lost_runs_.end()) return;
  // The lost runs came before the run that ended: their notes go first, and
  // each counts as a start (the front adds its own retries' notes before them).
  r.attempts += static_cast<int>(it->second.size());
  r.attempt_errors.insert(r.attempt_errors.begin(), std::make_move_iterator(it->second.begin()),
                          std::make_move_iterator(it->second.end()));
  lost_runs_.erase(it);
}

bool mpi_backend::lost(int rank) const {
  const std::lock_guard<std::mutex> lock(m_);
  return ranks_[static_cast<std::size_t>(rank)].lost;
}

}  // namespace procpool::detail::mpi
