// An agent rank (rank != 0): its local process-mode backend runs the tasks
// rank 0 sends, and the rank's main thread talks MPI: tasks and control words
// in, outcomes and the agent's state out, never waiting inside MPI (polling
// with a backoff from 1 us to 1 ms, so an idle rank sleeps).
#include "arguments.hpp"
#include "backend/local_backend.hpp"
#include "backend/mpi/mpi_handshake.hpp"
#include "backend/mpi/mpi_session.hpp"
#include "backend/mpi/mpi_transport.hpp"
#include "backend/mpi/mpi_wire.hpp"
#include "outcomes.hpp"

#include <procpool/shared/error.hpp>
#include <procpool/supervisor/mpi.hpp>
#include <procpool/worker/worker_main.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_set>
#include <utility>

namespace procpool::detail::mpi {
namespace {

class agent final : public backend_listener {
 public:
  explicit agent(const options& o)
      : local_(o, segment::kind::shared, &make_process_launcher), heartbeat_(o.mpi_heartbeat_limit / 4) {}

  /// Serves until rank 0 says the job ends. Returns the exit code.
  int serve(transport& t);

 private:
  void tasks_started(std::span<const started_task> started) noexcept override {
    const std::lock_guard<std::mutex> lock(m_);
    try {
      started_.insert(started_.end(), started.begin(), started.end());
    } catch (...) {
      // Out of memory: an observer misses these starts; outcomes still go.
    }
  }
  void tasks_finished(std::vector<finished_task>& finished) override {
    const std::lock_guard<std::mutex> lock(m_);
    for (finished_task& f : finished) outbox_.push_back(std::move(f));
  }
  void backend_failed(const std::string& why, std::vector<std::uint64_t> dropped) override {
    const std::lock_guard<std::mutex> lock(m_);
    failure_ = why;
    for (const std::uint64_t id : dropped) {
      outbox_.emplace_back(id, make_result(task_state::cancelled, "procpool::cancelled", "the pool failed: " + why));
    }
  }
  void workers_changed() noexcept override {
    const std::lock_guard<std::mutex> lock(m_);
    changed_ = true;
  }

  void handle(const incoming& in);
  void take_tasks(std::span<const std::uint8_t> bytes);
  void cancel(const std::vector<std::uint64_t>& ids, const std::string& why);
  bool report(transport& t);

  local_backend local_;
  /// Say something at least this often (0: only when there is news), so rank
  /// 0 can tell a silent rank from a busy one.
  const std::chrono::milliseconds heartbeat_;
  std::chrono::steady_clock::time_point last_sent_ = std::chrono::steady_clock::now();
  std::mutex m_;
  std::vector<finished_task> outbox_;  // guarded by m_
  std::vector<started_task> started_;  // guarded by m_: for rank 0's observer
  bool changed_ = true;                // guarded by m_: say the state once at start
  std::string failure_;                // guarded by m_

  // The serving thread only:
  std::unordered_set<std::uint64_t> held_;  ///< received, outcome not sent yet
  bool stopping_ = false;
  bool stopped_sent_ = false;
  bool end_ = false;
  std::string failure_sent_;
};

int agent::serve(transport& t) {
  local_.start(*this);
  backoff pause;
  while (!end_ || t.sends_pending()) {
    bool worked = false;
    while (std::optional<incoming> in = t.receive(0)) {
      handle(*in);
      worked = true;
    }
    worked = report(t) || worked;
    worked = t.progress() || worked;
    if (worked) {
      pause.reset();
    } else {
      pause.idle();
    }
  }
  // Rank 0 joined or terminated: nothing of ours still runs, unless it went
  // away early; either way nothing outlives the job.
  (void)local_.stop(std::chrono::milliseconds(0));
  local_.wait_stopped();
  local_.shutdown();
  return 0;
}

void agent::handle(const incoming& in) {
  if (in.tag == wire_tag::tasks) {
    take_tasks(in.bytes);
    return;
  }
  if (in.tag != wire_tag::control) return;
  std::chrono::milliseconds grace{0};
  switch (unpack_control(in.bytes, grace)) {
    case control_op::close: local_.close(); break;
    case control_op::drop: cancel(local_.drop_queued(), "dropped from the queue by cancel_queued()"); break;
    case control_op::stop:
      stopping_ = true;
      cancel(local_.stop(grace), "dropped from the queue by terminate()");
      break;
    case control_op::end: end_ = true; break;
  }
}

void agent::take_tasks(std::span<const std::uint8_t> bytes) {
  // Rank 0's credits bound what arrives, so push_again (which never blocks)
  // is the right call: the local queue never holds more than workers + prefetch.
  for (const owned_task& t : unpack_tasks(bytes)) {
    held_.insert(t.id);
    // Every claim is reported (tasks_started), not only those an observer
    // wants: rank 0 tells a running task from one waiting here behind it.
    task_message m = t.view();
    m.flags |= message_wake_on_claim;
    if (!local_.push_again(m)) cancel({t.id}, "the pool stopped before the task could run");
  }
}

void agent::cancel(const std::vector<std::uint64_t>& ids, const std::string& why) {
  const std::lock_guard<std::mutex> lock(m_);
  for (const std::uint64_t id : ids) {
    outbox_.emplace_back(id, make_result(task_state::cancelled, "procpool::cancelled", why));
  }
}

bool agent::report(transport& t) {
  std::vector<finished_task> out;
  std::vector<started_task> started;
  agent_state st;
  bool changed = false;
  {
    const std::lock_guard<std::mutex> lock(m_);
    out.swap(outbox_);
    started.swap(started_);
    changed = changed_;
    changed_ = false;
    st.failure = failure_;
  }
  for (const finished_task& f : out) held_.erase(f.first);
  st.stopped = stopping_ && held_.empty() && local_.all_exited();
  const bool say_stopped = st.stopped && !stopped_sent_;
  const auto now = std::chrono::steady_clock::now();
  const bool heartbeat = heartbeat_.count() > 0 && now - last_sent_ >= heartbeat_;
  if (out.empty() && started.empty() && !changed && !say_stopped && st.failure == failure_sent_ && !heartbeat) {
    return false;
  }
  last_sent_ = now;
  pool_stats s;
  local_.add_stats(s);
  st.workers_alive = s.workers_alive;
  st.workers_idle = s.workers_idle;
  st.workers_started = s.workers_started;
  st.worker_exits = s.worker_exits;
  st.worker_deaths = s.worker_deaths;
  st.start_failures = s.start_failures;
  st.queued = s.queued;
  st.running = s.running;
  stopped_sent_ = stopped_sent_ || st.stopped;
  failure_sent_ = st.failure;
  t.send(0, wire_tag::results, pack_results(out, started, st));
  return true;
}

/// Waits for rank 0's word to end (after this rank could not start).
void wait_for_end(transport& t) {
  backoff pause;
  for (;;) {
    if (std::optional<incoming> in = t.receive(0)) {
      std::chrono::milliseconds grace{0};
      if (in->tag == wire_tag::control && unpack_control(in->bytes, grace) == control_op::end) break;
      continue;
    }
    pause.idle();
  }
  flush(t);
}

int serve_agent() {
  const world w = init_once("procpool::mpi::serve_if_agent");
  if (w.rank == 0) {
    throw error(errc::invalid_argument,
                "the launcher's environment says rank " + std::to_string(procpool::mpi::launcher_rank()) +
                    " but MPI says rank 0");
  }
  transport t;
  const std::optional<options> welcome = await_welcome(t);
  if (!welcome) {
    std::fprintf(stderr,
                 "procpool: rank %d: rank 0 ended without an MPI pool (was --backend mpi / "
                 "options::backend = mpi given?): this rank ran nothing\n",
                 w.rank);
    return 0;
  }
  options o = *welcome;
  // MPI is initialised here already: workers start as fresh programs (spawn),
  // so none inherits MPI's state.
  o.start = start_method::spawn;
  o.max_queue = static_cast<std::size_t>(o.workers + o.mpi_prefetch);
  std::unique_ptr<agent> a;
  try {
    validate_options(o);
    a = std::make_unique<agent>(o);
  } catch (const std::exception& e) {
    send_ready(t, e.what());
    wait_for_end(t);
    throw;
  }
  send_ready(t, "");
  return a->serve(t);
}

}  // namespace
}  // namespace procpool::detail::mpi

namespace procpool::mpi {

bool available() noexcept { return true; }

void serve_if_agent(int argc, char** argv) {
  run_worker_if_requested(argc, argv);
  const int rank = launcher_rank();
  if (rank == 0 && detail::mpi::launcher_world_size() > 1) {
    // The agents wait for this rank's pool: tell them at exit if it made none.
    (void)std::atexit([] { detail::mpi::release_agents(); });
  }
  if (rank <= 0) return;
  // The launcher forwards SIGUSR1 (a soft stop) to every rank: rank 0 decides.
  std::signal(SIGUSR1, SIG_IGN);
  // So does MPICH's Hydra with the first Ctrl-C, as SIGINT (Open MPI turns it
  // into SIGTERM), and it ends the job about 0.1 s after a rank dies: an agent
  // killed by it would cut rank 0's drain short. Rank 0 decides here too, and
  // stops or ends the agents; a second Ctrl-C makes Hydra SIGKILL the job.
  // (Spawned workers get every signal's default disposition back.)
  std::signal(SIGINT, SIG_IGN);
  int code = 1;
  try {
    code = detail::mpi::serve_agent();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "procpool: rank %d: %s\n", rank, e.what());
    std::fflush(stderr);
  }
  detail::mpi::finalize();
  std::exit(code);
}

}  // namespace procpool::mpi
