// The states a tag goes through: queued -> running -> one terminal state.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace procpool {

enum class task_state : std::uint32_t {
  queued = 0,
  running = 1,
  done = 2,
  failed = 3,
  timed_out = 4,
  crashed = 5,
  cancelled = 6,
};

/// Exactly the lower-case names: "queued", "running", "done", "failed",
/// "timed_out", "crashed", "cancelled".
[[nodiscard]] std::string_view to_string(task_state s) noexcept;

/// The inverse of to_string; nullopt for any other text.
[[nodiscard]] std::optional<task_state> task_state_from_string(std::string_view s) noexcept;

[[nodiscard]] constexpr bool is_terminal(task_state s) noexcept {
  return s != task_state::queued && s != task_state::running;
}

}  // namespace procpool
