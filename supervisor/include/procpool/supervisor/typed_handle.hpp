// procpool::typed_handle<R>: a task_handle whose get() returns the task's C++
// return type R instead of JSON. Made by the typed pool::submit(tag, task, args...)
// (<procpool/supervisor/typed.hpp>); everything else is the untyped handle's.
#pragma once

#include <procpool/shared/error.hpp>
#include <procpool/supervisor/task_handle.hpp>
#include <procpool/worker/task.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>

namespace procpool {

namespace detail {

/// A task's JSON value read back as R. The value was written from an R by the
/// task's own to_json, so this fails only when to_json and from_json of R
/// disagree; that is a procpool::error(payload_invalid) naming the tag and R,
/// not a bare nlohmann exception.
template <class R>
R value_as(const nlohmann::json& value, std::string_view where, std::string_view tag) {
  if constexpr (std::is_void_v<R>) {
    (void)value, (void)where, (void)tag;
  } else {
    try {
      return value.template get<R>();
    } catch (const nlohmann::json::exception& e) {
      throw error(errc::payload_invalid, std::string(where) + ": the value of '" + std::string(tag) +
                                             "' does not read back as " +
                                             type_display_name(typeid(R)) + ": " + e.what());
    }
  }
}

}  // namespace detail

/// Copyable and thread-safe like task_handle. A default-constructed one is
/// empty (every member but valid() throws errc::invalid_argument).
template <class R>
class typed_handle {
 public:
  using value_type = R;

  typed_handle() = default;
  explicit typed_handle(task_handle untyped) noexcept : handle_(std::move(untyped)) {}

  /// Blocks until ready(); the value as R (nothing for a void task), or throws
  /// task_error exactly as task_handle::get() does.
  R get() const { return detail::value_as<R>(handle_.get(), "typed_handle::get", handle_.tag()); }

  /// The untyped handle: the JSON value, and whatever takes a task_handle.
  [[nodiscard]] const task_handle& untyped() const noexcept { return handle_; }

  [[nodiscard]] bool valid() const noexcept { return handle_.valid(); }
  [[nodiscard]] const std::string& tag() const { return handle_.tag(); }
  [[nodiscard]] task_state state() const { return handle_.state(); }
  [[nodiscard]] bool ready() const { return handle_.ready(); }
  void wait() const { handle_.wait(); }
  [[nodiscard]] bool wait_for(std::chrono::milliseconds timeout) const {
    return handle_.wait_for(timeout);
  }
  /// The whole outcome (state, JSON value, error); never throws for a task failure.
  [[nodiscard]] procpool::result result() const { return handle_.result(); }

 private:
  task_handle handle_;
};

}  // namespace procpool
