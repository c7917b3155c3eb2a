// What the worker loop (worker_loop.cpp) and the batch runner
// (batch_runner.cpp) share. Private to the worker library.
#pragma once

#include <procpool/shared/detail/layout.hpp>
#include <procpool/worker/detail/worker_loop.hpp>
#include <procpool/worker/task.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace procpool::detail {

/// The exception being handled, as a result carries it: type, message, and a
/// code with a detail when the task gave them (task_failure, procpool::error).
struct failure {
  std::string type;
  std::string message;
  int code = 0;  ///< procpool::errc, 0 for none
  nlohmann::json detail;
};

/// The exception being handled (call inside a catch block only).
[[nodiscard]] failure current_failure();

/// Writes one result record into the worker's result ring, waiting while the
/// ring is full (the supervisor is behind).
void publish(segment_header* h, std::uint32_t index, const outgoing_result& r) noexcept;

/// Runs a map chunk (a message_batch message): the MessagePack array of its
/// outcome items, [0, value] or [1, type, message(, code, detail)], one per
/// input. With message_batch_progress each input's start is marked in the row
/// and its outcome published at once; the array returned then holds none of
/// them. Throws procpool::error(payload_invalid) on inputs that are not
/// MessagePack (the whole message fails).
[[nodiscard]] std::vector<std::uint8_t> run_batch(const worker_config& c, worker_row& row,
                                                  const claimed_message& m, const task_entry& entry,
                                                  task_context& ctx);

}  // namespace procpool::detail
