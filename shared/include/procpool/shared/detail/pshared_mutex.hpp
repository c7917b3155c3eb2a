// The mutex inside every shared-state object: process-shared, robust
// (PTHREAD_MUTEX_ROBUST), error-checking or recursive, with an owner word of
// our own.
//
// Why not detail::robust_mutex: the shared containers also need a timed and a
// non-blocking acquire, recursion (rlock), and a clean error when a thread
// releases a mutex it does not hold. Ownership is read from the robust mutex's
// lock word, which holds the owner's kernel thread id (unique across processes;
// the kernel clears it when the owner dies), so a foreign release or a
// non-recursive re-lock is refused *before* calling into pthreads: the error is
// ours (errc::invalid_argument) and sanitizers never see a bad unlock. Recursion
// is counted here (depth_), so glibc's own count stays at one.
//
// Owner death: if the owner dies holding it, the next acquire() returns
// `owner_died`. The caller then holds the mutex; it repairs what the mutex
// guards (or tells its own caller) and calls mark_consistent(). A caller that
// cannot repair calls release_unrecoverable(): every later acquire throws
// procpool::error(errc::segment_poisoned).
//
// Lives in shared memory: trivially relocatable, initialised once in place by
// init() before any other process or thread can see it.
#pragma once

#include <pthread.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>

namespace procpool::detail {

/// The caller's kernel thread id (cached per thread, reset in a forked child).
[[nodiscard]] pid_t current_tid() noexcept;

class pshared_mutex {
 public:
  enum class status { acquired, owner_died, timed_out };

  /// Initialises in place (robust, process-shared; recursive or error-checking).
  /// Throws procpool::error(errc::system) if pthreads refuses.
  void init(bool recursive);

  /// Acquires the mutex. `timeout`: nullopt blocks; zero or negative tries once
  /// (timed_out if busy); otherwise waits at most that long. Blocks (unless
  /// timeout is zero). Thread-safe.
  /// Throws procpool::error: invalid_argument if the caller already holds a
  /// non-recursive mutex (it would deadlock); segment_poisoned if a previous
  /// owner died and nobody repaired the data; system on any other pthread error.
  /// `kind` and `name` name the object in messages ("lock 'x'"); both must
  /// outlive the call (they are string literals or arena directory names).
  [[nodiscard]] status acquire(std::optional<std::chrono::nanoseconds> timeout, const char* kind,
                               const char* name);

  /// Marks the data consistent after owner_died (call while holding it).
  void mark_consistent() noexcept;

  /// Releases one level of ownership. Throws procpool::error(invalid_argument)
  /// if the calling thread does not hold the mutex.
  void release(const char* kind, const char* name);
  /// Releases without throwing; precondition: the caller holds it.
  void release_held() noexcept;
  /// Releases a mutex whose owner died without marking it consistent: it
  /// becomes unrecoverable (every later acquire throws segment_poisoned).
  void release_unrecoverable() noexcept;

  /// True if the calling thread holds the mutex. Non-blocking.
  [[nodiscard]] bool held_by_caller() const noexcept;
  /// The holder's kernel thread id, or 0. A hint only (it may change at once).
  [[nodiscard]] pid_t owner_hint() const noexcept;

 private:
  pthread_mutex_t m_;
  std::uint32_t depth_ = 0;  ///< recursion depth; touched by the holder only
  std::uint32_t recursive_ = 0;
};

}  // namespace procpool::detail
