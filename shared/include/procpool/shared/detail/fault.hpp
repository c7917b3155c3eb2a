// Fault injection for the fault-test suite: kill the calling process at a named
// point inside a critical section, once.
//
// Built in only with -DPROCPOOL_FAULT_INJECTION=ON (the default for development
// builds). Armed by the environment of the supervisor, inherited by forked
// workers: PROCPOOL_FAULT_INJECT=<point>:<marker path>. The first process that
// reaches <point> and creates <marker path> (O_CREAT|O_EXCL) raises SIGKILL;
// every other process passes. Points:
//   claim_before_head    a claim is recorded, the ring head not yet advanced
//   claim_after_head     the head advanced, `popped` not yet counted (lock held)
//   idle_holding_lock    about to sleep for work, queue lock held
//   woken_before_claim   woken for work, not holding the lock, nothing claimed yet
//   publish_before_commit  result bytes written, write position not stored
//   publish_after_commit   result published, claim not yet withdrawn
#pragma once

#include <string_view>

namespace procpool::detail {

#ifdef PROCPOOL_FAULT_INJECTION
void fault_point(std::string_view point) noexcept;
/// As fault_point, but the first process to reach `point` throws
/// std::runtime_error instead of dying: a fault inside the supervisor's own
/// threads (points: monitor_loop, callback_loop).
void fault_throw(std::string_view point);
#else
inline void fault_point(std::string_view /*point*/) noexcept {}
inline void fault_throw(std::string_view /*point*/) {}
#endif

}  // namespace procpool::detail
