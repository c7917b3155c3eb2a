#include <procpool/shared/detail/futex.hpp>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

namespace procpool::detail {
namespace {
std::uint32_t* address(std::atomic<std::uint32_t>& w) noexcept {
  // std::atomic<uint32_t> is lock-free and has the size of uint32_t (asserted
  // in layout.hpp); the kernel compares the raw word.
  return reinterpret_cast<std::uint32_t*>(&w);
}
}  // namespace

bool futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                std::chrono::nanoseconds timeout) noexcept {
  timespec ts{};
  timespec* tsp = nullptr;
  if (timeout != std::chrono::nanoseconds::max()) {
    if (timeout.count() <= 0) return false;
    ts.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
    tsp = &ts;
  }
  // Not FUTEX_PRIVATE: the word may live in memory shared between processes.
  const long rc = ::syscall(SYS_futex, address(word), FUTEX_WAIT, expected, tsp, nullptr, 0);
  return !(rc != 0 && errno == ETIMEDOUT);
}

void futex_wake(std::atomic<std::uint32_t>& word, int count) noexcept {
  ::syscall(SYS_futex, address(word), FUTEX_WAKE, count, nullptr, nullptr, 0);
}

}  // namespace procpool::detail
