// The internal lock of a shared container (shared_dict, shared_queue): holds the
// container's pshared_mutex and, when the previous owner died holding it, runs
// the container's repair before anything else looks at the data.
//
// A repair that succeeds marks the mutex consistent. A repair that fails (the
// structure does not check out) leaves the mutex unrecoverable and throws
// procpool::error(errc::segment_poisoned); so does every later acquire.
#pragma once

#include <procpool/shared/detail/pshared_mutex.hpp>
#include <procpool/shared/error.hpp>

#include <optional>
#include <string>

namespace procpool::detail {

class container_guard {
 public:
  /// Returns true if the structure is consistent again. Runs with the mutex
  /// held; must not throw.
  using repair_fn = bool (*)(void* state) noexcept;

  container_guard(pshared_mutex& m, const char* kind, const char* name, repair_fn repair,
                  void* state)
      : m_(m), kind_(kind), name_(name), repair_(repair), state_(state) {
    relock();
  }
  container_guard(const container_guard&) = delete;
  container_guard& operator=(const container_guard&) = delete;
  ~container_guard() { unlock(); }

  /// Releases (idempotent).
  void unlock() noexcept {
    if (held_) {
      held_ = false;
      m_.release_held();
    }
  }
  /// Re-acquires after unlock(), repairing if needed. Blocks.
  void relock() {
    const auto s = m_.acquire(std::nullopt, kind_, name_);
    held_ = true;
    if (s == pshared_mutex::status::owner_died) {
      if (!repair_(state_)) {
        held_ = false;
        m_.release_unrecoverable();
        throw error(errc::segment_poisoned, std::string(kind_) + " '" + name_ +
                                                "': a process died inside it and its storage "
                                                "does not check out; it cannot be used any more");
      }
      m_.mark_consistent();
    }
  }

 private:
  pshared_mutex& m_;
  const char* kind_;
  const char* name_;
  repair_fn repair_;
  void* state_;
  bool held_ = false;
};

}  // namespace procpool::detail
