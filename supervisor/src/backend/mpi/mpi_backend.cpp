// The MPI backend's calls from the front on rank 0: set-up, push, close,
// stop, stats; and the reports of rank 0's own local backend. The MPI thread
// is in mpi_dispatch.cpp.
#include "backend/mpi/mpi_backend.hpp"

#include "backend/mpi/mpi_handshake.hpp"
#include "front/diagnostics.hpp"
#include "outcomes.hpp"

#include <procpool/shared/error.hpp>

#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>

namespace procpool::detail::mpi {

mpi_backend::mpi_backend(const options& opts, std::unique_ptr<local_backend> local, world w,
                         std::vector<hello> hellos)
    : opts_(opts), local_(std::move(local)), world_(w) {
  const auto credits = static_cast<std::size_t>(opts_.workers + std::max(opts_.mpi_prefetch, 0));
  ranks_.resize(static_cast<std::size_t>(w.size));
  for (std::size_t r = 0; r < ranks_.size(); ++r) {
    ranks_[r].who = std::move(hellos[r]);
    ranks_[r].credits = credits;
  }
  // World size 1 always runs its tasks: there is no one else.
  if (!opts_.mpi_rank0_runs_tasks && w.size > 1) ranks_[0].credits = 0;
}

mpi_backend::~mpi_backend() {
  shutdown();
  local_.reset();  // its workers and fork server go before MPI does
  bool lost = false;
  {
    const std::lock_guard<std::mutex> lock(m_);
    lost = any_lost_;
  }
  if (lost) {
    // MPI_Finalize would wait for the lost rank for ever: end the job, so that
    // the launcher reaps it and no process of the job is left.
    const int code = abort_exit_code();
    diagnose(opts_, "a rank was lost: ending the MPI job (MPI_Abort, exit code " + std::to_string(code) + ")");
    std::fflush(nullptr);  // what this process wrote must not die with it
    MPI_Abort(MPI_COMM_WORLD, code);
  }
  finalize();
}

void mpi_backend::start(backend_listener& listener) {
  listener_ = &listener;
  local_->start(*this);
  thread_ = std::thread([this] { mpi_loop(); });
}

void mpi_backend::wake() noexcept {
  {
    const std::lock_guard<std::mutex> lock(m_);
    woken_ = true;
  }
  wake_cv_.notify_one();
}

push_outcome mpi_backend::push(const task_message& m, space_policy policy, const deadline& until) {
  std::unique_lock<std::mutex> lock(m_);
  for (;;) {
    if (phase_ != phase::running) return push_outcome::refused;
    if (pending_.size() < opts_.max_queue) break;
    if (policy == space_policy::fail_fast) return push_outcome::full;
    if (policy == space_policy::block_for) {
      if (until.passed()) return push_outcome::full;
      const auto left = std::min<std::chrono::nanoseconds>(until.remaining(), std::chrono::hours(1));
      space_cv_.wait_for(lock, left);
    } else {
      space_cv_.wait(lock);
    }
  }
  pending_.push_back(owned_task::from(m));
  woken_ = true;
  lock.unlock();
  wake_cv_.notify_one();
  return push_outcome::accepted;
}

bool mpi_backend::push_again(const task_message& m) {
  {
    const std::lock_guard<std::mutex> lock(m_);
    if (phase_ == phase::stopping) return false;
    pending_.push_back(owned_task::from(m));
    woken_ = true;
  }
  wake_cv_.notify_one();
  return true;
}

void mpi_backend::close() {
  {
    const std::lock_guard<std::mutex> lock(m_);
    if (phase_ != phase::running) return;
    phase_ = phase::closing;
  }
  space_cv_.notify_all();
  wake();
}

std::vector<std::uint64_t> mpi_backend::drop_queued() {
  std::vector<std::uint64_t> ids;
  {
    const std::lock_guard<std::mutex> lock(m_);
    for (const owned_task& t : pending_) ids.push_back(t.id);
    pending_.clear();
    drop_wanted_ = true;  // what agents hold beyond their running tasks comes back cancelled
  }
  space_cv_.notify_all();
  std::vector<std::uint64_t> local = local_->drop_queued();
  ids.insert(ids.end(), local.begin(), local.end());
  wake();
  return ids;
}

std::vector<std::uint64_t> mpi_backend::stop(std::chrono::milliseconds grace) {
  std::vector<std::uint64_t> ids;
  {
    const std::lock_guard<std::mutex> lock(m_);
    if (phase_ == phase::stopping) return {};
    phase_ = phase::stopping;
    for (const owned_task& t : pending_) ids.push_back(t.id);
    pending_.clear();
    stop_wanted_ = true;
    stop_grace_ = grace;
  }
  space_cv_.notify_all();
  std::vector<std::uint64_t> local = local_->stop(grace);
  ids.insert(ids.end(), local.begin(), local.end());
  wake();
  return ids;
}

void mpi_backend::wait_stopped() {
  local_->wait_stopped();
  std::unique_lock<std::mutex> lock(m_);
  stopped_cv_.wait(lock, [&] {
    if (!stop_sent_) return false;
    for (std::size_t r = 1; r < ranks_.size(); ++r) {
      if (ranks_[r].lost) continue;
      if (!ranks_[r].in_flight.empty() || !ranks_[r].state.stopped) return false;
    }
    return true;
  });
}

bool mpi_backend::agents_exited_locked() const {
  if (!pending_.empty()) return false;
  if (!close_sent_ && !stop_sent_) return false;
  for (std::size_t r = 1; r < ranks_.size(); ++r) {
    if (ranks_[r].lost) continue;
    if (!ranks_[r].in_flight.empty() || ranks_[r].state.workers_alive != 0) return false;
  }
  return true;  // rank 0's own tasks: local_->all_exited()
}

bool mpi_backend::all_exited() const {
  {
    const std::lock_guard<std::mutex> lock(m_);
    if (!agents_exited_locked()) return false;
  }
  return local_->all_exited();
}

void mpi_backend::shutdown() noexcept {
  {
    const std::lock_guard<std::mutex> lock(m_);
    end_wanted_ = true;
    woken_ = true;
  }
  wake_cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  end_agents();  // if the thread never ran
  if (local_) local_->shutdown();
}

bool mpi_backend::running(std::uint64_t id) const {
  if (local_->running(id)) return true;
  const std::lock_guard<std::mutex> lock(m_);
  for (std::size_t r = 1; r < ranks_.size(); ++r) {
    if (ranks_[r].claimed.count(id) != 0) return true;  // reported claimed by one of its workers
  }
  return false;
}

void mpi_backend::add_stats(pool_stats& s) const {
  local_->add_stats(s);
  const std::size_t local_alive = s.workers_alive;
  const std::lock_guard<std::mutex> lock(m_);
  s.queued += pending_.size();
  for (std::size_t r = 0; r < ranks_.size(); ++r) {
    const rank_slot& k = ranks_[r];
    rank_stats row{static_cast<int>(r), k.who.host, k.who.pid, local_alive, k.in_flight.size(),
                   k.max_in_flight, k.credits, k.finished};
    if (r > 0) {
      const agent_state& a = k.state;
      row.workers_alive = a.workers_alive;
      s.workers_alive += a.workers_alive;
      s.workers_idle += a.workers_idle;
      s.workers_started += a.workers_started;
      s.worker_exits += a.worker_exits;
      s.worker_deaths += a.worker_deaths;
      s.start_failures += a.start_failures;
      s.queued += a.queued;
      s.running += a.running;
    }
    s.ranks.push_back(std::move(row));
  }
}

// ---- rank 0's local backend reports ---------------------------------------------------

void mpi_backend::tasks_started(std::span<const started_task> started) noexcept {
  listener_->tasks_started(started);
}

void mpi_backend::tasks_finished(std::vector<finished_task>& finished) {
  {
    const std::lock_guard<std::mutex> lock(m_);
    for (auto& [id, r] : finished) {
      ranks_[0].in_flight.erase(id);
      ++ranks_[0].finished;
      r.rank = 0;
      r.host = ranks_[0].who.host;
      add_lost_runs_locked(id, r);  // it may have been lost with another rank first
    }
    woken_ = true;  // credits came back
  }
  wake_cv_.notify_one();
  stopped_cv_.notify_all();
  listener_->tasks_finished(finished);
}

void mpi_backend::backend_failed(const std::string& why, std::vector<std::uint64_t> dropped) {
  listener_->backend_failed("rank 0 (host " + ranks_[0].who.host + "): " + why, std::move(dropped));
}

void mpi_backend::workers_changed() noexcept { listener_->workers_changed(); }

// ---- making it ---------------------------------------------------------------------

std::unique_ptr<backend> make_mpi_backend(const options& opts) {
  options local_opts = opts;
  local_opts.backend = backend_kind::local;
  // The local backend first: its fork server forks before MPI exists, so no
  // worker inherits MPI's state.
  auto local = std::make_unique<local_backend>(
      local_opts, opts.mode == mode::thread ? segment::kind::private_ : segment::kind::shared,
      opts.mode == mode::thread ? &make_thread_launcher : &make_process_launcher);
  const world w = init_once("pool::pool");
  if (w.rank != 0) {
    throw error(errc::invalid_argument,
                "pool::pool: options::backend = mpi on rank " + std::to_string(w.rank) +
                    ": only rank 0 makes the pool; every other rank must call "
                    "procpool::mpi::serve_if_agent(argc, argv) first in main()");
  }
  std::vector<hello> hellos;
  try {
    transport t;
    hellos = greet_agents(t, w, opts);
  } catch (...) {
    // Not finalized here: the refused ranks wait in MPI_Finalize for this one,
    // which finalizes at exit (init_once's hook), once the caller has reported
    // the refusal. Finalizing now would let them exit non-zero and the
    // launcher end the job before the caller's message is out.
    local.reset();
    throw;
  }
  return std::make_unique<mpi_backend>(opts, std::move(local), w, std::move(hellos));
}

}  // namespace procpool::detail::mpi
