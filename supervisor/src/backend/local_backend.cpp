// The local backend's calls from the front: set-up, push, close, stop, stats.
// The monitor thread's side is in local_monitor.cpp.
#include "backend/local_backend.hpp"

#include "arguments.hpp"

#include <procpool/shared/error.hpp>
#include <procpool/worker/task.hpp>

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

namespace procpool::detail {

namespace {
/// Forgets a watched id unless the push that added it was accepted.
struct watch_guard {
  std::mutex& m;
  std::unordered_map<std::uint64_t, std::chrono::milliseconds>& watched;
  std::uint64_t id;
  bool armed;
  ~watch_guard() {
    if (!armed) return;
    const std::lock_guard<std::mutex> lock(m);
    watched.erase(id);
  }
};
}  // namespace

local_backend::local_backend(const options& opts, segment::kind memory, launcher_factory make_launcher)
    : opts_(opts) {
  const auto workers = static_cast<std::uint32_t>(opts_.workers);
  const layout_sizes sizes = compute_layout(workers, opts_.max_queue, opts_.max_payload_bytes);
  seg_ = segment(memory, sizes.total_bytes);
  hdr_ = init_layout(seg_.data(), workers, opts_.max_queue, opts_.max_payload_bytes);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) throw error(errc::system, std::string("pool::pool: eventfd: ") + std::strerror(errno));
  slots_ = std::vector<worker_slot>(workers);
  if (!opts_.initializer.empty()) {
    init_args_ = positional_args(*find_task(opts_.initializer), opts_.initializer_args,
                                 [] { return std::string("pool::pool: options::initializer_args"); });
  }
  // The shared-state arena, before the fork server and every worker: forked
  // ones inherit the mapping, spawned ones attach to its memfd.
  try {
    arena_ = std::make_unique<shared_state_arena>(memory == segment::kind::shared, opts_.shared_state_bytes);
  } catch (const error& e) {
    ::close(wake_fd_);
    throw error(e.code_value(), std::string("pool::pool: options::shared_state_bytes: ") + e.what());
  }
  try {
    launcher_ = make_launcher(launch_context{opts_, base_config(), seg_.fd(), arena_->fd()});
  } catch (...) {
    ::close(wake_fd_);
    throw;
  }
}

local_backend::~local_backend() {
  shutdown();
  launcher_.reset();  // joins finished threads / closes the fork server before the memory goes
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

worker_config local_backend::base_config() const {
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

void local_backend::start(backend_listener& listener) {
  listener_ = &listener;
  monitor_ = std::thread([this] { monitor_loop(); });
}

// ---- intake ------------------------------------------------------------------------

push_outcome local_backend::push(const task_message& m, space_policy policy, const deadline& until) {
  std::uint32_t flags = m.flags;
  const bool watch = m.timeout.count() > 0 || (flags & message_wake_on_claim) != 0;
  if (watch) {
    // Before the push: a worker may claim the message at once.
    flags |= message_wake_on_claim;
    const std::lock_guard<std::mutex> lock(m_);
    watched_[m.id] = m.timeout;
  }
  watch_guard unwatch{m_, watched_, m.id, watch};
  const outgoing_message msg{m.id, m.attempt, flags, m.tag, m.task, m.payload};
  bool waiting = false;
  const auto stop_waiting = [&] {
    if (waiting) pushers_waiting_.fetch_sub(1, std::memory_order_relaxed);
    waiting = false;
  };
  for (;;) {
    push_result r = push_result::full;
    std::uint32_t seen = 0;
    try {
      const queue_lock lock(hdr_);
      r = push_locked(hdr_, msg);
      if (r == push_result::full && policy != space_policy::fail_fast) {
        seen = hdr_->queue.not_full.snapshot();
        hdr_->queue.not_full.prepare_wait();
      }
    } catch (...) {
      stop_waiting();
      throw;
    }
    if (r == push_result::ok) break;
    if (r == push_result::refused || policy == space_policy::fail_fast) {
      stop_waiting();
      return r == push_result::refused ? push_outcome::refused : push_outcome::full;
    }
    if (policy == space_policy::block_for && until.passed()) {
      hdr_->queue.not_full.finish_wait();
      stop_waiting();
      return push_outcome::full;
    }
    if (!waiting) {
      // A caller waiting for room is demand too: start workers for it now
      // (a queue shorter than the pool must not start them one by one).
      waiting = true;
      pushers_waiting_.fetch_add(1, std::memory_order_relaxed);
      wake_monitor();
    }
    hdr_->queue.not_full.wait(seen, until.remaining());
    hdr_->queue.not_full.finish_wait();
  }
  stop_waiting();
  unwatch.armed = false;
  bool spawn = false;
  {
    const std::lock_guard<std::mutex> lock(m_);
    spawn = spawn_wanted_locked();
  }
  if (spawn) wake_monitor();
  return push_outcome::accepted;
}

bool local_backend::push_again(const task_message& m) {
  const std::lock_guard<std::mutex> lock(m_);
  if (phase_ == phase::stopping || phase_ == phase::failed) return false;
  std::uint32_t flags = m.flags;
  if (m.timeout.count() > 0 || (flags & message_wake_on_claim) != 0) {
    flags |= message_wake_on_claim;
    watched_[m.id] = m.timeout;
  }
  push_result r = push_result::full;
  {
    const queue_lock ql(hdr_);
    r = push_locked(hdr_, outgoing_message{m.id, m.attempt, flags, m.tag, m.task, m.payload},
                    /*is_retry=*/true);
  }
  if (r == push_result::refused) {
    watched_.erase(m.id);
    return false;
  }
  if (r == push_result::full) {
    // The ring's bytes are taken: the monitor pushes it when room frees.
    backlog_.push_back(owned_message{m.id, m.attempt, flags, std::string(m.tag), std::string(m.task),
                                     std::vector<std::uint8_t>(m.payload.begin(), m.payload.end())});
  }
  wake_monitor();
  return true;
}

// ---- lifecycle -----------------------------------------------------------------------

void local_backend::close() {
  {
    const std::lock_guard<std::mutex> lock(m_);
    if (phase_ != phase::running) return;
    phase_ = phase::closing;
  }
  {
    const queue_lock lock(hdr_);
    hdr_->queue.closing.store(1, std::memory_order_relaxed);
    hdr_->queue.not_empty.notify_all();
    hdr_->queue.not_full.notify_all();
  }
  wake_monitor();
}

std::vector<std::uint64_t> local_backend::stop_intake(bool drop) {
  {
    const queue_lock lock(hdr_);
    hdr_->queue.stopping.store(1, std::memory_order_relaxed);
    hdr_->queue.not_empty.notify_all();
    hdr_->queue.not_full.notify_all();
  }
  return drop ? drop_all_queued() : std::vector<std::uint64_t>{};
}

std::vector<std::uint64_t> local_backend::drop_all_queued() {
  std::vector<std::uint64_t> ids;
  {
    const queue_lock lock(hdr_);
    for (std::uint64_t id = drop_head_locked(hdr_); id != 0; id = drop_head_locked(hdr_)) ids.push_back(id);
    hdr_->queue.not_full.notify_all();  // room for callers waiting to push
  }
  const std::lock_guard<std::mutex> lock(m_);
  for (const owned_message& b : backlog_) ids.push_back(b.id);
  backlog_.clear();
  for (const std::uint64_t id : ids) {
    watched_.erase(id);
    partials_.erase(id);
  }
  return ids;
}

std::vector<std::uint64_t> local_backend::drop_queued() { return drop_all_queued(); }

std::vector<std::uint64_t> local_backend::stop(std::chrono::milliseconds grace) {
  {
    const std::lock_guard<std::mutex> lock(m_);
    if (phase_ == phase::stopping) return {};
    phase_ = phase::stopping;
    stop_deadline_ = saturating_add(steady::now(), grace);
  }
  std::vector<std::uint64_t> dropped = stop_intake(/*drop=*/true);
  {
    const std::lock_guard<std::mutex> lock(m_);
    for (std::uint32_t i = 0; i < slots_.size(); ++i) {
      if (!slots_[i].used) continue;
      row_at(hdr_, i).stop.store(1, std::memory_order_release);
      if (launcher_->can_kill() && slots_[i].handle.pid > 0) launcher_->signal(slots_[i].handle, SIGTERM);
    }
    if (alive_ == 0) {
      stop_settled_ = true;
      stop_deadline_.reset();
    }
  }
  cv_.notify_all();
  wake_monitor();
  return dropped;
}

void local_backend::wait_stopped() {
  std::unique_lock<std::mutex> lock(m_);
  cv_.wait(lock, [&] { return stop_settled_; });
}

bool local_backend::all_exited() const {
  const std::lock_guard<std::mutex> lock(m_);
  return alive_ == 0;
}

void local_backend::shutdown() noexcept {
  {
    const std::lock_guard<std::mutex> lock(m_);
    stop_threads_ = true;
  }
  wake_monitor();
  if (monitor_.joinable()) monitor_.join();
}

// ---- reads -------------------------------------------------------------------------------

bool local_backend::running(std::uint64_t id) const {
  for (std::uint32_t i = 0; i < hdr_->worker_count; ++i) {
    if (row_at(hdr_, i).claimed.load(std::memory_order_acquire) == id) return true;
  }
  return false;
}

void local_backend::add_stats(pool_stats& s) const {
  const std::lock_guard<std::mutex> lock(m_);
  s.workers_alive = alive_;
  s.workers_started = counters_.workers_started;
  s.worker_exits = counters_.worker_exits;
  s.worker_deaths = counters_.worker_deaths;
  s.start_failures = counters_.start_failures;
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    if (!slots_[i].used) continue;
    const worker_row& row = row_at(hdr_, i);
    if (row.state.load(std::memory_order_acquire) == static_cast<std::uint32_t>(row_state::idle)) ++s.workers_idle;
    if (row.claimed.load(std::memory_order_acquire) != 0) ++s.running;
  }
  s.queued = static_cast<std::size_t>(queued());
}

std::uint64_t local_backend::queued() const noexcept {
  return hdr_->queue.pushed.load(std::memory_order_relaxed) - hdr_->queue.popped.load(std::memory_order_relaxed);
}

std::size_t local_backend::idle_or_starting_locked() const {
  std::size_t n = 0;
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    if (!slots_[i].used) continue;
    const auto s = static_cast<row_state>(row_at(hdr_, i).state.load(std::memory_order_acquire));
    if (s == row_state::idle || s == row_state::starting) ++n;
  }
  return n;
}

bool local_backend::spawn_wanted_locked() const {
  if (phase_ != phase::running && phase_ != phase::closing) return false;
  if (alive_ >= slots_.size()) return false;
  // Demand: what is queued, what waits for the ring's room, and callers
  // blocked for queue space. The rows are read first: a row seen busy means
  // its claim is already out of the queued count read after it (claim_locked).
  const std::size_t ready = idle_or_starting_locked();
  const std::uint64_t demand =
      queued() + backlog_.size() + pushers_waiting_.load(std::memory_order_relaxed);
  return demand > ready;
}

void local_backend::wake_monitor() const noexcept {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

}  // namespace procpool::detail
