// procpool::observer: hooks a program gives a pool to watch what it does
// (metrics, tracing, logs), set in options::observer.
//
// Every hook is noexcept and runs on one of the pool's threads (the monitor,
// the callback thread or a submitting thread), so keep it short: count, log,
// hand off. A hook must not call back into the pool.
#pragma once

#include <procpool/shared/task_state.hpp>

#include <optional>
#include <string_view>

namespace procpool {

class observer {
 public:
  virtual ~observer() = default;
  /// A tag was accepted into the queue (submit, apply; not map's chunks).
  virtual void task_queued(std::string_view /*tag*/, std::string_view /*task*/) noexcept {}
  /// An attempt of `tag` began on a worker (attempt counts from 1).
  virtual void task_started(std::string_view /*tag*/, int /*worker_pid*/, int /*attempt*/) noexcept {}
  /// `tag` reached its terminal state (reported once).
  virtual void task_finished(std::string_view /*tag*/, task_state /*state*/) noexcept {}
  /// A worker started (its pid; in thread mode, this process's pid).
  virtual void worker_started(int /*pid*/) noexcept {}
  /// A worker ended: exit code or signal (one of them is set), and a sentence.
  virtual void worker_exited(int /*pid*/, std::optional<int> /*exit_code*/,
                             std::optional<int> /*signal*/, std::string_view /*cause*/) noexcept {}
  /// The pool moved to its failed state (the restart limit, or an internal fault).
  virtual void pool_failed(std::string_view /*why*/) noexcept {}
};

}  // namespace procpool
