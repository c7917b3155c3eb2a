#include <procpool/shared/detail/deadline.hpp>
#include <procpool/shared/detail/futex.hpp>
#include <procpool/shared/detail/shared_containers.hpp>
#include <procpool/shared/detail/shared_state_arena.hpp>
#include <procpool/shared/error.hpp>
#include <procpool/shared/sync.hpp>

#include <algorithm>
#include <new>
#include <string>
#include <utility>

namespace procpool {
namespace {

using detail::lock_state;
using detail::pshared_mutex;

lock_state* create_lock(detail::shared_state_arena& arena, std::string_view name, bool recursive,
                        const char*& stored_name) {
  const auto obj = arena.create(
      name, recursive ? detail::shared_kind::rlock : detail::shared_kind::lock, 0,
      sizeof(lock_state), alignof(lock_state), [recursive](void* p) {
        auto* s = new (p) lock_state();
        s->magic = detail::lock_magic;
        s->recursive = recursive ? 1U : 0U;
        s->mutex.init(recursive);
      });
  stored_name = obj.name;
  return static_cast<lock_state*>(obj.storage);
}

lock_state* open_lock(detail::shared_state_arena& arena, std::string_view name, bool recursive,
                      const char*& stored_name) {
  const auto obj =
      arena.find(name, recursive ? detail::shared_kind::rlock : detail::shared_kind::lock);
  auto* s = static_cast<lock_state*>(obj.storage);
  if (s->magic != detail::lock_magic) {
    throw error(errc::segment_poisoned,
                "open lock: shared object '" + std::string(name) + "' is damaged");
  }
  stored_name = obj.name;
  return s;
}

acquire_result acquire_user_lock(pshared_mutex& m, bool block,
                                 std::optional<std::chrono::nanoseconds> timeout, const char* kind,
                                 const char* name) {
  if (!block) timeout = std::chrono::nanoseconds{0};
  switch (m.acquire(timeout, kind, name)) {
    case pshared_mutex::status::acquired:
      return {true, false};
    case pshared_mutex::status::owner_died:
      // A user lock: we cannot repair what it guards, only report it. The lock
      // itself is fine again.
      m.mark_consistent();
      return {true, true};
    case pshared_mutex::status::timed_out:
      break;
  }
  return {false, false};
}

held_lock hold_user_lock(pshared_mutex& m, const char* kind, const char* name) {
  const acquire_result r = acquire_user_lock(m, true, std::nullopt, kind, name);
  return held_lock(&m, r.owner_died);
}

}  // namespace

// ---- held_lock ----------------------------------------------------------------

held_lock::held_lock(held_lock&& other) noexcept
    : mutex_(std::exchange(other.mutex_, nullptr)), owner_died_(other.owner_died_) {}

held_lock& held_lock::operator=(held_lock&& other) noexcept {
  if (this != &other) {
    unlock();
    mutex_ = std::exchange(other.mutex_, nullptr);
    owner_died_ = other.owner_died_;
  }
  return *this;
}

held_lock::~held_lock() { unlock(); }

void held_lock::unlock() noexcept {
  if (mutex_ != nullptr) std::exchange(mutex_, nullptr)->release_held();
}

// ---- lock and rlock ------------------------------------------------------------

template <class Self, bool Recursive>
Self detail::basic_lock<Self, Recursive>::create(detail::shared_state_arena& arena, std::string_view name) {
  const char* n = nullptr;
  lock_state* s = create_lock(arena, name, Recursive, n);
  return Self(s, n);
}

template <class Self, bool Recursive>
Self detail::basic_lock<Self, Recursive>::open(detail::shared_state_arena& arena, std::string_view name) {
  const char* n = nullptr;
  lock_state* s = open_lock(arena, name, Recursive, n);
  return Self(s, n);
}

template <class Self, bool Recursive>
acquire_result detail::basic_lock<Self, Recursive>::acquire(bool block,
                                                    std::optional<std::chrono::nanoseconds> timeout) {
  return acquire_user_lock(state_->mutex, block, timeout, kind_, name_);
}

template <class Self, bool Recursive>
void detail::basic_lock<Self, Recursive>::release() {
  state_->mutex.release(kind_, name_);
}

template <class Self, bool Recursive>
held_lock detail::basic_lock<Self, Recursive>::hold() {
  return hold_user_lock(state_->mutex, kind_, name_);
}

template <class Self, bool Recursive>
bool detail::basic_lock<Self, Recursive>::held_by_me() const noexcept {
  return state_->mutex.held_by_caller();
}

template class detail::basic_lock<lock, false>;
template class detail::basic_lock<rlock, true>;

// ---- event --------------------------------------------------------------------
// word = (number of raising set() calls << 1) | flag.

event event::create(detail::shared_state_arena& arena, std::string_view name) {
  const auto obj = arena.create(name, detail::shared_kind::event, 0, sizeof(detail::event_state),
                                alignof(detail::event_state), [](void* p) {
                                  auto* s = new (p) detail::event_state();
                                  s->magic = detail::event_magic;
                                  s->word.store(0, std::memory_order_relaxed);
                                  s->waiters.store(0, std::memory_order_relaxed);
                                });
  return event(static_cast<detail::event_state*>(obj.storage), obj.name);
}

event event::open(detail::shared_state_arena& arena, std::string_view name) {
  const auto obj = arena.find(name, detail::shared_kind::event);
  auto* s = static_cast<detail::event_state*>(obj.storage);
  if (s->magic != detail::event_magic) {
    throw error(errc::segment_poisoned,
                "open event: shared object '" + std::string(name) + "' is damaged");
  }
  return event(s, obj.name);
}

void event::set() noexcept {
  std::uint32_t cur = state_->word.load(std::memory_order_relaxed);
  for (;;) {
    if ((cur & 1U) != 0) return;  // already set: whoever set it woke the waiters
    const std::uint32_t next = (((cur >> 1U) + 1U) << 1U) | 1U;
    if (state_->word.compare_exchange_weak(cur, next, std::memory_order_seq_cst)) break;
  }
  // Pairs with the waiter's waiters++ then word load (both seq_cst): either the
  // waiter sees the new word, or we see it counted and wake it.
  if (state_->waiters.load(std::memory_order_seq_cst) != 0) {
    detail::futex_wake(state_->word, 0x7fffffff);
  }
}

void event::clear() noexcept { state_->word.fetch_and(~1U, std::memory_order_seq_cst); }

bool event::is_set() const noexcept {
  return (state_->word.load(std::memory_order_acquire) & 1U) != 0;
}

bool event::wait(std::optional<std::chrono::nanoseconds> timeout) const noexcept {
  const std::uint32_t seen = state_->word.load(std::memory_order_acquire);
  if ((seen & 1U) != 0) return true;
  const auto until = detail::deadline::after(timeout);
  state_->waiters.fetch_add(1, std::memory_order_seq_cst);
  bool set = false;
  for (;;) {
    const std::uint32_t cur = state_->word.load(std::memory_order_seq_cst);
    // Set now, or set since we started (and maybe cleared again).
    if ((cur & 1U) != 0 || (cur >> 1U) != (seen >> 1U)) {
      set = true;
      break;
    }
    const std::chrono::nanoseconds left = until.remaining();
    if (left.count() <= 0) break;
    // Bounded: a setter may have died between raising the flag and waking us.
    (void)detail::futex_wait(state_->word, cur,
                             std::min<std::chrono::nanoseconds>(left, detail::wait_recheck_interval));
  }
  state_->waiters.fetch_sub(1, std::memory_order_relaxed);
  return set;
}

}  // namespace procpool
