#include <procpool/shared/task_state.hpp>

#include <array>

namespace procpool {
namespace {
constexpr std::array<std::string_view, 7> names = {"queued",    "running", "done",     "failed",
                                                   "timed_out", "crashed", "cancelled"};
}  // namespace

std::string_view to_string(task_state s) noexcept {
  const auto i = static_cast<std::size_t>(s);
  return i < names.size() ? names[i] : std::string_view{"unknown"};
}

std::optional<task_state> task_state_from_string(std::string_view s) noexcept {
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == s) return static_cast<task_state>(i);
  }
  return std::nullopt;
}

}  // namespace procpool
