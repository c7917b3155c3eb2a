#include <procpool/shared/detail/robust_mutex.hpp>
#include <procpool/shared/error.hpp>

#include <cerrno>
#include <cstring>
#include <string>

namespace procpool::detail {

void robust_mutex::init() {
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  const int rc = pthread_mutex_init(&m_, &a);
  pthread_mutexattr_destroy(&a);
  if (rc != 0) {
    throw error(errc::system, std::string("robust_mutex: pthread_mutex_init: ") + std::strerror(rc));
  }
}

robust_mutex::lock_result robust_mutex::lock() {
  const int rc = pthread_mutex_lock(&m_);
  if (rc == 0) return lock_result::ok;
  if (rc == EOWNERDEAD) return lock_result::owner_died;
  if (rc == ENOTRECOVERABLE) {
    throw error(errc::segment_poisoned, "robust_mutex: lock not recoverable");
  }
  throw error(errc::system, std::string("robust_mutex: pthread_mutex_lock: ") + std::strerror(rc));
}

void robust_mutex::mark_consistent() noexcept { pthread_mutex_consistent(&m_); }

void robust_mutex::unlock() noexcept { pthread_mutex_unlock(&m_); }

}  // namespace procpool::detail
