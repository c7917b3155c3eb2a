// The scriptable tasks of the fault-tolerance suite, registered in
// fault_tasks.cpp (compiled into each fault test executable; names start with
// "fault_" so they never collide with helpers/test_tasks.cpp):
//
//   fault_exit(int code)            _exit(code) in the middle of the task
//   fault_abort()                   abort() (no core file)
//   fault_segv()                    a real store to an unmapped page: SIGSEGV (no core file)
//   fault_sigkill_self()            raise(SIGKILL)
//   fault_burn_cpu(int max_cpu_ms)  busy loop until the process used max_cpu_ms of CPU
//                                   (returns it); with worker_cpu_seconds the kernel
//                                   sends SIGXCPU first
//   fault_crash_before_attempt(int n)  SIGKILLs its worker on attempts 1 .. n-1, then
//                                   returns the attempt number
//   fault_ignore_term_and_hang(fifo)   ignores SIGTERM, writes "<pid>\n" to the FIFO
//                                   (if not empty), then hangs ignoring stop requests
//   fault_spawn_grandchild_and_hang(fifo, grandchild_ignores_term, task_ignores_term)
//                                   forks a sleeping grandchild (same process group),
//                                   writes "<worker pid> <grandchild pid>\n" to the FIFO,
//                                   then hangs ignoring stop requests
//   fault_alloc_mib(int mib)        allocates and touches mib MiB; returns mib
//   fault_list_fds()                {"<fd>": "<readlink target>"} of every descriptor open
//                                   in the worker
//   fault_spin_us(int us)           busy-waits us microseconds; returns us
//   fault_init_throw(string msg)    an initializer that always throws runtime_error(msg)
//   fault_poll_stop()               thread mode: polls task_context::stop_requested()
//                                   and records (see stop_seen()) that it saw it
//
// Hanging tasks give up after 120 s (scaled by PROCPOOL_TEST_TIMEOUT_MULTIPLIER),
// so a failing test never leaves a process that runs for ever.
#pragma once

namespace procpool_fault {

/// How many fault_poll_stop tasks of this process saw stop_requested().
[[nodiscard]] int stop_seen() noexcept;
/// How many fault_poll_stop tasks of this process have started.
[[nodiscard]] int stop_pollers_started() noexcept;
/// Resets both counters.
void reset_stop_record() noexcept;

}  // namespace procpool_fault
