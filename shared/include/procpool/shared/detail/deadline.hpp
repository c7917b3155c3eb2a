// A point on the steady clock to wait until, or "never" (saturating: a huge
// timeout is no timeout).
#pragma once

#include <chrono>
#include <optional>

namespace procpool::detail {

/// `t + d` on the steady clock, or time_point::max() ("never") where the sum
/// would overflow: a practically infinite limit such as milliseconds::max()
/// stays infinite instead of wrapping into the past. A negative `d` counts as 0.
template <class Rep, class Period>
[[nodiscard]] std::chrono::steady_clock::time_point saturating_add(
    std::chrono::steady_clock::time_point t, std::chrono::duration<Rep, Period> d) noexcept {
  using clock = std::chrono::steady_clock;
  if (d <= d.zero()) return t;
  const auto room = clock::time_point::max() - t;
  if (d >= std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(room) ||
      std::chrono::duration_cast<clock::duration>(d) >= room) {
    return clock::time_point::max();
  }
  return t + std::chrono::duration_cast<clock::duration>(d);
}

class deadline {
 public:
  using clock = std::chrono::steady_clock;

  /// nullopt: never. A timeout too large to add to now(): never.
  static deadline after(std::optional<std::chrono::nanoseconds> timeout) noexcept {
    deadline d;
    if (!timeout) return d;
    const auto now = clock::now();
    if (*timeout >= clock::time_point::max() - now) return d;
    d.infinite_ = false;
    d.at_ = now + std::chrono::duration_cast<clock::duration>(*timeout);
    return d;
  }

  [[nodiscard]] bool infinite() const noexcept { return infinite_; }
  /// nanoseconds::max() if infinite; zero or less once passed.
  [[nodiscard]] std::chrono::nanoseconds remaining() const noexcept {
    if (infinite_) return std::chrono::nanoseconds::max();
    return std::chrono::duration_cast<std::chrono::nanoseconds>(at_ - clock::now());
  }
  [[nodiscard]] bool passed() const noexcept { return !infinite_ && clock::now() >= at_; }

 private:
  bool infinite_ = true;
  clock::time_point at_{};
};

}  // namespace procpool::detail
