// Synchronisation primitives shared by the supervisor and its workers:
// procpool::lock, procpool::rlock and procpool::event, the analogues of Python's
// multiprocessing Lock, RLock and Event. They live in the pool's shared-state
// arena, work across processes (process mode) and threads (thread mode) alike,
// and survive the death of a process that holds them.
//
// Lifecycle
// ---------
// The supervisor creates one by name (pool.make_lock("l"), or lock::create on
// an arena); anyone opens it by name (ctx.lock("l") in a task, pool.lock("l"),
// lock::open). A handle is a small copyable pointer into the arena: copy it
// freely, pass it to threads; it is valid as long as the pool (the arena) lives.
// Objects are never destroyed before the pool.
//
//   auto l = ctx.lock("totals");
//   {
//     procpool::held_lock g = l.hold();     // like `with lock:`
//     if (g.owner_died()) { /* the data it guards may be half updated */ }
//     ...
//   }
//   auto ev = ctx.event("go");
//   ev.wait();                               // until the supervisor calls set()
//
// Owner death: if a process (or thread) dies holding a lock or rlock, the next
// acquirer does not deadlock: it gets the lock and acquire_result::owner_died
// (held_lock::owner_died()) is true. The lock is usable again at once; what it
// guarded may be half updated, and repairing that is the caller's business.
// A process killed inside event::set() (after raising the flag, before waking
// the waiters) delays them by at most a tenth of a second; never strands them.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace procpool {

namespace detail {
class shared_state_arena;
class pshared_mutex;
struct lock_state;
struct event_state;
}  // namespace detail

/// What an acquire did. `acquired` is false only when a non-blocking or timed
/// acquire gave up. `owner_died` is true when the previous owner died holding
/// the lock: the caller holds it now, and the data it guards may be half
/// updated.
struct acquire_result {
  bool acquired = false;
  bool owner_died = false;
  explicit operator bool() const noexcept { return acquired; }
};

/// A held lock, released when destroyed (the RAII form of acquire/release).
/// Move-only; must be destroyed (or unlock()ed) by the thread that acquired it.
class [[nodiscard]] held_lock {
 public:
  held_lock() noexcept = default;
  held_lock(held_lock&& other) noexcept;
  held_lock& operator=(held_lock&& other) noexcept;
  held_lock(const held_lock&) = delete;
  held_lock& operator=(const held_lock&) = delete;
  ~held_lock();

  /// True if the previous owner died holding the lock (data may be half updated).
  [[nodiscard]] bool owner_died() const noexcept { return owner_died_; }
  [[nodiscard]] bool owns_lock() const noexcept { return mutex_ != nullptr; }
  /// Releases early. No effect if already released.
  void unlock() noexcept;

  /// Internal: adopts a mutex the caller has just acquired.
  held_lock(detail::pshared_mutex* m, bool owner_died) noexcept : mutex_(m), owner_died_(owner_died) {}

 private:
  detail::pshared_mutex* mutex_ = nullptr;
  bool owner_died_ = false;
};

namespace detail {

/// What `lock` and `rlock` share: a robust lock owned by one thread of one
/// process at a time. `Self` is the derived class (create/open return it).
template <class Self, bool Recursive>
class basic_lock {
 public:
  /// Supervisor: creates the lock `name` in `arena`. Throws procpool::error:
  /// invalid_argument (bad or existing name, or called from a worker), full
  /// (arena directory or storage full).
  static Self create(shared_state_arena& arena, std::string_view name);
  /// Anyone: opens the lock `name`. Non-blocking. Throws
  /// procpool::error(invalid_argument) if there is none or it is not this kind of lock.
  static Self open(shared_state_arena& arena, std::string_view name);

  /// Acquires: `block` false tries once; otherwise waits, at most `timeout` if
  /// given. Returns acquired == false if it gave up. Thread-safe. An rlock
  /// re-acquired by its owner succeeds at once; a lock throws
  /// procpool::error(invalid_argument) instead (it would deadlock).
  [[nodiscard]] acquire_result acquire(bool block = true,
                                       std::optional<std::chrono::nanoseconds> timeout = {});
  /// acquire(false).
  [[nodiscard]] acquire_result try_acquire() { return acquire(false); }
  /// Releases (one level, for an rlock). Throws
  /// procpool::error(invalid_argument) if the calling thread does not hold it.
  void release();
  /// Blocks until acquired; returns the guard that releases it.
  [[nodiscard]] held_lock hold();
  /// True if the calling thread holds it. Non-blocking.
  [[nodiscard]] bool held_by_me() const noexcept;

  [[nodiscard]] std::string_view name() const noexcept { return name_; }

  /// For create/open: a handle on an existing lock state.
  basic_lock(lock_state* s, const char* name) noexcept : state_(s), name_(name) {}

 private:
  static constexpr const char* kind_ = Recursive ? "rlock" : "lock";
  lock_state* state_;
  const char* name_;
};

}  // namespace detail

/// A mutual-exclusion lock owned by one thread of one process at a time
/// (Python's multiprocessing.Lock, but owned: only the holder may release it).
class lock : public detail::basic_lock<lock, false> {
 public:
  using basic_lock::basic_lock;
};

/// A re-entrant lock (Python's RLock): the owning thread may acquire it again;
/// it is free once released as many times as acquired. Otherwise as `lock`.
class rlock : public detail::basic_lock<rlock, true> {
 public:
  using basic_lock::basic_lock;
};

extern template class detail::basic_lock<lock, false>;
extern template class detail::basic_lock<rlock, true>;

/// A flag that processes wait for (Python's Event): initially clear; set()
/// wakes every waiter; clear() resets it. No lock involved: a process dying in
/// any call leaves it either set or clear.
class event {
 public:
  static event create(detail::shared_state_arena& arena, std::string_view name);
  static event open(detail::shared_state_arena& arena, std::string_view name);

  /// Sets the flag and wakes all waiters. Non-blocking, thread-safe.
  void set() noexcept;
  /// Clears the flag. Non-blocking, thread-safe.
  void clear() noexcept;
  [[nodiscard]] bool is_set() const noexcept;
  /// Blocks until the flag is set, at most `timeout` if given. Returns true if
  /// it was set (also when a set() woke this waiter and a clear() followed
  /// before it ran, as in Python), false on timeout. Thread-safe.
  bool wait(std::optional<std::chrono::nanoseconds> timeout = {}) const noexcept;

  [[nodiscard]] std::string_view name() const noexcept { return name_; }

 private:
  event(detail::event_state* s, const char* name) noexcept : state_(s), name_(name) {}
  detail::event_state* state_;
  const char* name_;
};

}  // namespace procpool
