// Results the supervisor makes itself (a crash, a time limit, a cancellation)
// and the times the worker stamps, shared by the front and the local backend.
#pragma once

#include <procpool/shared/result.hpp>

#include <chrono>
#include <cstdint>
#include <string>

namespace procpool::detail {

/// A result in `state` that procpool decided (not the task): its errc is
/// errc_for(state), finished now.
[[nodiscard]] inline procpool::result make_result(task_state state, std::string type, std::string message) {
  procpool::result r;
  r.state = state;
  r.error_code = errc_for(state);
  r.error_type = std::move(type);
  r.error_message = std::move(message);
  r.finished_at = std::chrono::system_clock::now();
  return r;
}

/// A CLOCK_REALTIME stamp in nanoseconds as a system_clock time.
[[nodiscard]] inline std::chrono::system_clock::time_point from_ns(std::uint64_t ns) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(ns)));
}

}  // namespace procpool::detail
