// Wait/notify on a 32-bit word in (possibly shared) memory.
//
// A wait_word pairs a sequence number with a count of sleepers. Protocol, with
// the guarding robust_mutex held: read `seq`, note the condition is false,
// prepare_wait(), unlock, wait(seq_seen), relock, finish_wait(). Notifiers
// change the condition, then notify_*(): the sequence bump makes a sleeper that
// read the old value return at once, so no wake-up is lost. A sleeper that died
// leaves `sleepers` too high; that costs a spare wake-up syscall, never a hang.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace procpool::detail {

/// Returns false on timeout. Spurious returns are allowed; callers re-check.
bool futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                std::chrono::nanoseconds timeout = std::chrono::nanoseconds::max()) noexcept;
void futex_wake(std::atomic<std::uint32_t>& word, int count) noexcept;

struct wait_word {
  std::atomic<std::uint32_t> seq{0};
  std::atomic<std::uint32_t> sleepers{0};

  [[nodiscard]] std::uint32_t snapshot() const noexcept { return seq.load(std::memory_order_acquire); }
  void prepare_wait() noexcept { sleepers.fetch_add(1, std::memory_order_seq_cst); }
  void finish_wait() noexcept { sleepers.fetch_sub(1, std::memory_order_relaxed); }
  bool wait(std::uint32_t seen, std::chrono::nanoseconds timeout = std::chrono::nanoseconds::max()) noexcept {
    return futex_wait(seq, seen, timeout);
  }
  void notify_one() noexcept { notify(1); }
  void notify_all() noexcept { notify(0x7fffffff); }

 private:
  void notify(int n) noexcept {
    seq.fetch_add(1, std::memory_order_seq_cst);
    if (sleepers.load(std::memory_order_seq_cst) != 0) futex_wake(seq, n);
  }
};

}  // namespace procpool::detail
