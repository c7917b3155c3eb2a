// The tasks the pool tests run, registered in test_tasks.cpp (which must be
// compiled into the test executable itself, not a static library, or the
// linker drops the registrars).
//
//   square(int) -> int                 add(int, int) -> int
//   echo(json) -> json                 noop() -> null
//   throw_runtime(string)  throws std::runtime_error(msg)
//   throw_logic(string)    throws std::logic_error(msg)
//   fail_if_negative(int) -> int, throws std::runtime_error("negative <x>") for x < 0
//   sleep_ms(int) -> int               pid() -> getpid()
//   repeat(int n) -> string of n 'x'
//   ctx_info() -> {"tag", "task", "attempt", "worker_index", "pid"}
//   gate(fifo) -> the byte read from the FIFO as int (-1 if the pool asked it to
//       stop); opens the FIFO for reading and waits for one byte
//   hang_until_stopped() -> "stopped" once task_context::stop_requested()
//   fail_before_attempt(int n) -> the attempt number; throws std::runtime_error
//       on attempts 1 .. n-1
//   report_pid_and_hang(fifo): writes "<pid>\n" to the FIFO, then waits until the
//       pool asks it to stop
//   init_mark(int v): the initializer; records that it ran (per process and per
//       thread) and the value
//   init_info() -> {"process_runs", "thread_runs", "value", "pid"}
//
// The gate/hang tasks poll: they give up after 120 s (scaled by
// PROCPOOL_TEST_TIMEOUT_MULTIPLIER) and honour task_context::stop_requested(),
// so a failing test cannot leave a thread worker blocked forever.
#pragma once

namespace procpool_test {

/// Forgets every initializer run recorded in this process (call before making
/// the pool; forked workers start from this state).
void reset_initializer_record() noexcept;

/// How many times init_mark ran in this process since the last reset.
[[nodiscard]] int initializer_runs_in_this_process() noexcept;

}  // namespace procpool_test
