// The MPI backend on rank 0: the pool's queue of tasks not yet sent, and one
// procpool thread that talks MPI to the agent ranks. Every rank (rank 0 too,
// unless options::mpi_rank0_runs_tasks is false) runs an ordinary local
// process-mode backend; rank 0's is driven directly, the agents' through
// batches of MessagePack messages (mpi_agent.cpp serves them).
//
// Credits: a rank holds at most its workers + options::mpi_prefetch tasks
// (sent, outcome not yet back); the rest wait in pending_, bounded by
// options::max_queue, so push() blocks, refuses or times out exactly as the
// local backend's does.
//
// Threads: callers push and control; the MPI thread (start() to shutdown())
// makes every MPI call, never waiting inside MPI: it polls, sleeping with a
// backoff from 1 us to 1 ms when nothing happens, woken early by a push.
// Rank 0's local backend reports on its own monitor thread.
//
// Lock order: m_ -> the local backend's locks. The listener is called with m_
// not held.
#pragma once

#include "backend/backend.hpp"
#include "backend/local_backend.hpp"
#include "backend/mpi/mpi_backend_factory.hpp"
#include "backend/mpi/mpi_session.hpp"
#include "backend/mpi/mpi_transport.hpp"
#include "backend/mpi/mpi_wire.hpp"

#include <condition_variable>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace procpool::detail::mpi {

class mpi_backend final : public backend, private backend_listener {
 public:
  /// Rank 0 only: `local` was made (its fork server forked) before MPI was
  /// initialised; `hellos` are every rank's greeting (greet_agents).
  mpi_backend(const options& opts, std::unique_ptr<local_backend> local, world w, std::vector<hello> hellos);
  ~mpi_backend() override;
  mpi_backend(const mpi_backend&) = delete;
  mpi_backend& operator=(const mpi_backend&) = delete;

  void start(backend_listener& listener) override;
  [[nodiscard]] push_outcome push(const task_message& m, space_policy policy, const deadline& until) override;
  [[nodiscard]] bool push_again(const task_message& m) override;
  void close() override;
  [[nodiscard]] std::vector<std::uint64_t> drop_queued() override;
  [[nodiscard]] std::vector<std::uint64_t> stop(std::chrono::milliseconds grace) override;
  void wait_stopped() override;
  [[nodiscard]] bool all_exited() const override;
  void shutdown() noexcept override;
  [[nodiscard]] bool running(std::uint64_t id) const override;
  void add_stats(pool_stats& s) const override;
  [[nodiscard]] shared_state_arena& shared_state() const override { return local_->shared_state(); }

 private:
  enum class phase { running, closing, stopping };

  struct rank_slot {
    hello who;
    std::size_t credits = 0;
    std::unordered_map<std::uint64_t, owned_task> in_flight;  ///< kept to run again if the rank is lost
    /// Of in_flight, the ids the agent reported its workers claimed (the
    /// others wait on the agent behind a running task): running(id).
    std::unordered_set<std::uint64_t> claimed;
    std::size_t max_in_flight = 0;
    std::chrono::steady_clock::time_point last_heard = std::chrono::steady_clock::now();
    bool lost = false;  ///< silent past options::mpi_heartbeat_limit
    std::size_t finished = 0;
    agent_state state;  ///< as last reported (agents only)
  };

  /// What one pass of the MPI thread has to send, taken under m_.
  struct outgoing {
    std::vector<std::vector<owned_task>> batches;  ///< by rank
    std::vector<control_op> controls;              ///< to every agent
    std::chrono::milliseconds grace{0};
    bool close_local = false;
  };

  // --- the local backend's reports (rank 0's own tasks) ---------------------------
  void tasks_started(std::span<const started_task> started) noexcept override;
  void tasks_finished(std::vector<finished_task>& finished) override;
  void backend_failed(const std::string& why, std::vector<std::uint64_t> dropped) override;
  void workers_changed() noexcept override;

  // --- the MPI thread (mpi_dispatch.cpp) ---------------------------------------
  void mpi_loop() noexcept;
  bool mpi_pass();
  outgoing take_outgoing_locked();
  bool send_outgoing(outgoing& out);
  bool receive_all();
  void on_results(int rank, std::span<const std::uint8_t> bytes);
  void end_agents() noexcept;
  /// Agents silent past the heartbeat limit are lost: their tasks go back to
  /// pending_ (once each) or end crashed (into `crashed`). Requires: m_ held.
  void check_silent_locked(std::vector<finished_task>& crashed, std::vector<std::string>& notes);
  /// Adds the runs of `id` lost with a rank to its result. Requires: m_ held.
  void add_lost_runs_locked(std::uint64_t id, procpool::result& r);
  void wake() noexcept;

  [[nodiscard]] bool agents_exited_locked() const;
  [[nodiscard]] bool lost(int rank) const;

  const options opts_;
  std::unique_ptr<local_backend> local_;
  const world world_;
  transport transport_;  // the MPI thread only (before start(): the constructing thread)
  backend_listener* listener_ = nullptr;

  mutable std::mutex m_;
  std::condition_variable space_cv_;    // push() waiting for room in pending_
  std::condition_variable stopped_cv_;  // wait_stopped(), and rank states for all_exited()
  std::condition_variable wake_cv_;     // the MPI thread's sleep
  phase phase_ = phase::running;        // guarded by m_
  std::deque<owned_task> pending_;      // guarded by m_
  std::vector<rank_slot> ranks_;        // guarded by m_: by rank
  std::size_t next_rank_ = 0;           // guarded by m_: where dispatch starts (round robin)
  bool close_sent_ = false;             // guarded by m_
  bool drop_wanted_ = false;            // guarded by m_
  bool stop_wanted_ = false, stop_sent_ = false;  // guarded by m_
  std::chrono::milliseconds stop_grace_{0};       // guarded by m_
  bool end_wanted_ = false, ended_ = false;       // guarded by m_
  bool woken_ = false;                  // guarded by m_
  bool any_lost_ = false;               // guarded by m_: the job must end through MPI_Abort
  // guarded by m_: by id, one note per run lost with a rank ("rank_lost: ..."),
  // added to the task's result (attempts, attempt_errors) when it ends.
  std::unordered_map<std::uint64_t, std::vector<std::string>> lost_runs_;
  std::thread thread_;
};



}  // namespace procpool::detail::mpi
