// A process-shared, robust pthread mutex placed in shared memory.
//
// If the owner dies holding it, the next lock() returns owner_died: the caller
// now holds the lock, must repair the structure it guards, then call
// mark_consistent() before unlock(). Boost.Interprocess mutexes block forever or
// become unusable in that case, hence this type.
#pragma once

#include <pthread.h>

namespace procpool::detail {

class robust_mutex {
 public:
  enum class lock_result { ok, owner_died };

  /// Initialises in place. Call once, before any other process can see it.
  void init();
  /// Blocks. Throws procpool::error(segment_poisoned) if the mutex was left
  /// unrecoverable (an owner died and nobody repaired it).
  [[nodiscard]] lock_result lock();
  void mark_consistent() noexcept;
  void unlock() noexcept;

 private:
  pthread_mutex_t m_;
};

/// RAII guard; `repair` runs when the previous owner died, with the lock held.
template <class Repair>
class robust_lock {
 public:
  robust_lock(robust_mutex& m, Repair&& repair) : m_(m) {
    if (m_.lock() == robust_mutex::lock_result::owner_died) {
      repair();
      m_.mark_consistent();
    }
  }
  robust_lock(const robust_lock&) = delete;
  robust_lock& operator=(const robust_lock&) = delete;
  ~robust_lock() { m_.unlock(); }

 private:
  robust_mutex& m_;
};

}  // namespace procpool::detail
