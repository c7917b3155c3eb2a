#include <procpool/shared/detail/pshared_mutex.hpp>
#include <procpool/shared/error.hpp>

#include <linux/futex.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <string>

namespace procpool::detail {
namespace {

thread_local pid_t cached_tid = 0;

// A forked child's only thread has a new id: forget the parent's.
void forget_tid_in_child() noexcept { cached_tid = 0; }

std::string describe(const char* kind, const char* name) {
  return std::string(kind) + " '" + name + "'";
}

[[noreturn]] void fail(const std::string& what, const char* call, int rc) {
  throw error(errc::system, what + ": " + call + ": " + std::strerror(rc));
}

}  // namespace

pid_t current_tid() noexcept {
  if (cached_tid == 0) {
    // Registered before the first id is cached, so no cached id survives a fork.
    static const bool registered = (::pthread_atfork(nullptr, nullptr, forget_tid_in_child), true);
    (void)registered;
    cached_tid = ::gettid();
  }
  return cached_tid;
}

void pshared_mutex::init(bool recursive) {
  pthread_mutexattr_t a;
  ::pthread_mutexattr_init(&a);
  ::pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  ::pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  ::pthread_mutexattr_settype(&a, recursive ? PTHREAD_MUTEX_RECURSIVE : PTHREAD_MUTEX_ERRORCHECK);
  const int rc = ::pthread_mutex_init(&m_, &a);
  ::pthread_mutexattr_destroy(&a);
  if (rc != 0) fail("pshared_mutex", "pthread_mutex_init", rc);
  depth_ = 0;
  recursive_ = recursive ? 1U : 0U;
}

pid_t pshared_mutex::owner_hint() const noexcept {
  // glibc keeps a robust mutex's owner thread id in the low bits of its lock
  // word (the futex word the kernel clears, setting FUTEX_OWNER_DIED, when the
  // owner dies). glibc writes it with atomics; read it the same way.
  const int word = __atomic_load_n(&m_.__data.__lock, __ATOMIC_RELAXED);
  return static_cast<pid_t>(static_cast<unsigned>(word) & FUTEX_TID_MASK);
}

bool pshared_mutex::held_by_caller() const noexcept { return owner_hint() == current_tid(); }

pshared_mutex::status pshared_mutex::acquire(std::optional<std::chrono::nanoseconds> timeout,
                                             const char* kind, const char* name) {
  if (held_by_caller()) {
    if (recursive_ == 0) {
      throw error(errc::invalid_argument,
                  describe(kind, name) + ": already held by this thread (it would deadlock)");
    }
    ++depth_;
    return status::acquired;
  }
  int rc = 0;
  if (!timeout) {
    rc = ::pthread_mutex_lock(&m_);
  } else if (timeout->count() <= 0) {
    rc = ::pthread_mutex_trylock(&m_);
  } else {
    timespec abs{};
    ::clock_gettime(CLOCK_REALTIME, &abs);
    const auto ns = timeout->count() + abs.tv_nsec;
    abs.tv_sec += static_cast<time_t>(ns / 1'000'000'000);
    abs.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    rc = ::pthread_mutex_timedlock(&m_, &abs);
  }
  switch (rc) {
    case 0:
      depth_ = 1;
      return status::acquired;
    case EOWNERDEAD:
      depth_ = 1;
      return status::owner_died;
    case EBUSY:
    case ETIMEDOUT:
      return status::timed_out;
    case ENOTRECOVERABLE:
      throw error(errc::segment_poisoned,
                  describe(kind, name) + ": a previous owner died and the data could not be repaired");
    case EDEADLK:
      throw error(errc::invalid_argument,
                  describe(kind, name) + ": already held by this thread (it would deadlock)");
    default:
      fail(describe(kind, name), "pthread_mutex_lock", rc);
  }
}

void pshared_mutex::mark_consistent() noexcept { ::pthread_mutex_consistent(&m_); }

void pshared_mutex::release(const char* kind, const char* name) {
  if (!held_by_caller()) {
    throw error(errc::invalid_argument,
                describe(kind, name) + ": released by a thread that does not hold it");
  }
  release_held();
}

void pshared_mutex::release_held() noexcept {
  if (depth_ > 1) {
    --depth_;
    return;
  }
  depth_ = 0;
  ::pthread_mutex_unlock(&m_);
}

void pshared_mutex::release_unrecoverable() noexcept {
  depth_ = 0;
  ::pthread_mutex_unlock(&m_);
}

}  // namespace procpool::detail
