// What travels between ranks, as MessagePack: the greeting, the pool's
// options, batches of task messages, batches of outcomes with the sender's
// state, and control words.
#pragma once

#include "backend/backend.hpp"

#include <procpool/shared/result.hpp>
#include <procpool/supervisor/options.hpp>
#include <procpool/supervisor/pool_stats.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace procpool::detail::mpi {

/// What each agent rank says at start.
struct hello {
  std::string host;
  int pid = 0;
  std::string version;
  std::uint64_t registry = 0;
};

/// A task message that owns its bytes (a task_message views them).
struct owned_task {
  std::uint64_t id = 0;
  std::uint32_t attempt = 1;
  std::uint32_t flags = 0;
  std::string tag, task;
  std::vector<std::uint8_t> payload;
  std::chrono::milliseconds timeout{0};

  static owned_task from(const task_message& m);
  [[nodiscard]] task_message view() const;
};

/// An agent's state, sent with every batch of outcomes.
struct agent_state {
  std::size_t workers_alive = 0, workers_idle = 0, workers_started = 0, worker_exits = 0,
              worker_deaths = 0, start_failures = 0, queued = 0, running = 0;
  bool stopped = false;  ///< after a stop: every worker gone, every outcome sent
  std::string failure;   ///< its local backend failed (the restart limit)
};

enum class control_op { close, drop, stop, end };

std::vector<std::uint8_t> pack(const nlohmann::json& j);
nlohmann::json unpack(std::span<const std::uint8_t> bytes);

nlohmann::json to_wire(const hello& h);
hello hello_from(const nlohmann::json& j);

/// The options an agent's local backend is made from (rank 0's, in process mode).
nlohmann::json options_to_wire(const options& o);
options options_from(const nlohmann::json& j);

std::vector<std::uint8_t> pack_tasks(const std::vector<owned_task>& batch);
std::vector<owned_task> unpack_tasks(std::span<const std::uint8_t> bytes);

/// An agent's report: the outcomes and the starts (tasks sent with
/// message_wake_on_claim, for the pool's observer) since its last one, and its state.
std::vector<std::uint8_t> pack_results(const std::vector<finished_task>& done,
                                       const std::vector<started_task>& started, const agent_state& s);
void unpack_results(std::span<const std::uint8_t> bytes, std::vector<finished_task>& done,
                    std::vector<started_task>& started, agent_state& s);

std::vector<std::uint8_t> pack_control(control_op op, std::chrono::milliseconds grace = {});
control_op unpack_control(std::span<const std::uint8_t> bytes, std::chrono::milliseconds& grace);

}  // namespace procpool::detail::mpi
