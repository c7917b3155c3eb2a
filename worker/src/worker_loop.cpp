#include "worker_internal.hpp"

#include <procpool/shared/detail/codec.hpp>
#include <procpool/shared/detail/fault.hpp>
#include <procpool/worker/detail/worker_loop.hpp>
#include <procpool/worker/task.hpp>

#include <cxxabi.h>
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <typeinfo>
#include <utility>
#include <vector>

namespace procpool::detail {
namespace {

void set_row_state(worker_row& row, row_state s) noexcept {
  row.state.store(static_cast<std::uint32_t>(s), std::memory_order_release);
}

void record_start_error(worker_row& row, const std::string& text) noexcept {
  const std::size_t n = std::min(text.size(), sizeof(row.start_error) - 1);
  std::memcpy(row.start_error, text.data(), n);
  row.start_error[n] = '\0';
  row.start_error_len.store(static_cast<std::uint32_t>(n), std::memory_order_release);
}

enum class wait_outcome { work, exit };

/// Waits until a message can be claimed or the worker must leave.
/// Requires: queue lock held; returns with it held.
wait_outcome wait_for_work_locked(segment_header* h) {
  queue_control& q = h->queue;
  // Lock state: held on entry and after every iteration; released only inside
  // the futex wait, after the sequence number was read under the lock.
  for (;;) {
    if (q.stopping.load(std::memory_order_relaxed) != 0) return wait_outcome::exit;
    if (!ring_empty_locked(h)) return wait_outcome::work;
    if (q.closing.load(std::memory_order_relaxed) != 0) return wait_outcome::exit;
    fault_point("idle_holding_lock");
    const std::uint32_t seen = q.not_empty.snapshot();
    q.not_empty.prepare_wait();
    unlock_queue(h);
    q.not_empty.wait(seen);
    q.not_empty.finish_wait();
    fault_point("woken_before_claim");
    lock_queue(h);
  }
}

}  // namespace

void publish(segment_header* h, std::uint32_t index, const outgoing_result& r) noexcept {
  worker_row& row = row_at(h, index);
  // The result ring holds two of the largest records, so this waits only
  // while the supervisor is behind.
  while (!try_write_result(h, index, r)) {
    const std::uint32_t seen = row.res_space.snapshot();
    row.res_space.prepare_wait();
    if (try_write_result(h, index, r)) {
      row.res_space.finish_wait();
      return;
    }
    row.res_space.wait(seen);
    row.res_space.finish_wait();
  }
}

namespace {

struct task_outcome {
  task_state state = task_state::done;
  bool batch = false;  ///< value is a batch's outcome array (result_batch_outcome)
  std::vector<std::uint8_t> value;
  std::string error_type;
  std::string error_message;
};

}  // namespace

failure current_failure() {
  try {
    throw;
  } catch (const task_failure& e) {
    return {demangled_type_name(typeid(e)), e.what(), static_cast<int>(e.code()), e.detail()};
  } catch (const error& e) {
    return {demangled_type_name(typeid(e)), e.what(), static_cast<int>(e.code_value()), nullptr};
  } catch (const std::exception& e) {
    return {demangled_type_name(typeid(e)), e.what(), 0, nullptr};
  } catch (...) {
    const std::type_info* t = abi::__cxa_current_exception_type();
    return {t != nullptr ? demangled_type_name(*t) : std::string("unknown"),
            "a value that is not a std::exception was thrown", 0, nullptr};
  }
}

namespace {

/// A failed task's outcome; its value is [code, detail] when there is a code.
task_outcome failed_outcome(failure f) {
  task_outcome out;
  out.state = task_state::failed;
  out.error_type = std::move(f.type);
  out.error_message = std::move(f.message);
  if (f.code != 0) out.value = encode(nlohmann::json::array({f.code, std::move(f.detail)}));
  return out;
}

task_outcome run_claimed(const worker_config& c, worker_row& row, const claimed_message& m) {
  task_outcome out;
  try {
    const task_entry* entry = find_task(m.task_name);
    if (entry == nullptr) {
      throw error(errc::unknown_task, "worker: unknown task '" + std::string(m.task_name) + "'");
    }
    task_context ctx(m.tag, m.task_name, static_cast<int>(m.attempt), static_cast<int>(c.index),
                     &row.stop, c.shared_state);
    if ((m.flags & message_batch) != 0) {
      // One outcome per input of a batch; a failing input does not stop the others.
      out.value = run_batch(c, row, m, *entry, ctx);
      out.batch = true;
    } else {
      const nlohmann::json value = entry->invoke(ctx, decode(m.args));
      // Into this thread's scratch buffer: no payload-sized allocation per task.
      out.value = thread_scratch().take();
      encode_into(value, out.value);
    }
    if (out.value.size() > c.header->max_payload) {
      const std::size_t n = out.value.size();
      return failed_outcome({"procpool::too_large",
                             "result of " + std::to_string(n) + " bytes exceeds max_payload_bytes (" +
                                 std::to_string(c.header->max_payload) + ")",
                             static_cast<int>(errc::too_large), nullptr});
    }
  } catch (...) {
    return failed_outcome(current_failure());
  }
  return out;
}


}  // namespace

std::string demangled_type_name(const std::type_info& t) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(abi::__cxa_demangle(t.name(), nullptr, nullptr, &status),
                                              std::free);
  return (status == 0 && name) ? std::string(name.get()) : std::string(t.name());
}

void apply_resource_limits(const worker_config& c) noexcept {
  if (c.memory_limit != 0) {
    const rlimit r{c.memory_limit, c.memory_limit};
    ::setrlimit(RLIMIT_AS, &r);
  }
  if (c.cpu_seconds != 0) {
    // SIGXCPU at the soft limit, SIGKILL a second later if it is ignored.
    const rlimit r{c.cpu_seconds, c.cpu_seconds + 1};
    ::setrlimit(RLIMIT_CPU, &r);
  }
}

void configure_worker_heap() noexcept {
  // A worker process is procpool's own (never the user's supervisor process),
  // so it may choose how its heap behaves. glibc's defaults give the top of the
  // heap back to the kernel whenever more than 128 KiB of it is free, and map
  // (and unmap) every allocation of 128 KiB or more on its own; its automatic
  // raise of both thresholds does not help the usual pattern, a task that
  // decodes, copies and encodes payloads of 64 KiB or more and frees them all.
  // Each task then shrank the heap (brk) and the next one grew it again, with
  // the page faults and TLB flushes that go with it, which cost more than the
  // copying. Fixed thresholds keep what a task frees for the next task, and
  // keep it bounded: at most trim_threshold of free heap stays mapped, and
  // blocks of mmap_threshold or more (large payloads) are unmapped when freed.
  constexpr int mmap_threshold = 4 << 20;   // 4 MiB
  constexpr int trim_threshold = 16 << 20;  // 16 MiB
  (void)::mallopt(M_MMAP_THRESHOLD, mmap_threshold);
  (void)::mallopt(M_TRIM_THRESHOLD, trim_threshold);
}

void wake_collector(segment_header* h, int wake_fd) noexcept {
#if defined(__SANITIZE_THREAD__)
  // TSan does not model fences (GCC refuses them): the read-modify-write form of
  // the same handshake, correct but a write to a shared line on every publish.
  const bool sleeping = h->collector_sleeping.exchange(0, std::memory_order_seq_cst) != 0;
#else
  // The publish (a release store) must be visible before we read the flag, and
  // the collector sets the flag before it looks at the rings: a full fence on
  // each side, so one of the two always sees the other. Reading first avoids a
  // write to the shared line while the collector is awake.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  const bool sleeping = h->collector_sleeping.load(std::memory_order_relaxed) != 0 &&
                        h->collector_sleeping.exchange(0, std::memory_order_seq_cst) != 0;
#endif
  if (sleeping) {
    const std::uint64_t one = 1;
    // A full eventfd counter (never in practice) only means a wake is pending.
    [[maybe_unused]] const ssize_t n = ::write(wake_fd, &one, sizeof one);
  }
}

namespace {

/// Runs the initializer; false (the row says why) if it threw.
bool run_initializer(const worker_config& c, worker_row& row) noexcept {
  if (c.initializer.empty()) return true;
  try {
    const task_entry* entry = find_task(c.initializer);
    if (entry == nullptr) throw error(errc::unknown_task, "unknown task '" + c.initializer + "'");
    task_context ctx("", c.initializer, 1, static_cast<int>(c.index), &row.stop, c.shared_state);
    (void)entry->invoke(ctx, c.initializer_args);
    return true;
  } catch (const std::exception& e) {
    record_start_error(row, "initializer '" + c.initializer + "' threw " + demangled_type_name(typeid(e)) +
                                ": " + e.what());
  } catch (...) {
    record_start_error(row, "initializer '" + c.initializer + "' threw a non-standard exception");
  }
  set_row_state(row, row_state::exiting);
  wake_collector(c.header, c.wake_fd);
  return false;
}

/// Runs the claimed message and publishes its outcome, then withdraws the claim.
void run_and_publish(const worker_config& c, worker_row& row) noexcept {
  const claimed_message m = read_claim(c.header, c.index);
  // A time limit counts from the claim: tell a sleeping supervisor now.
  if ((m.flags & message_wake_on_claim) != 0) wake_collector(c.header, c.wake_fd);
  const std::uint64_t started = row.claim_started_ns.load(std::memory_order_relaxed);
  task_outcome out = run_claimed(c, row, m);

  outgoing_result r{};
  r.task_id = m.task_id;
  r.state = static_cast<std::uint32_t>(out.state);
  if (out.batch && out.state == task_state::done) r.state |= result_batch_outcome;
  r.attempt = m.attempt;
  r.started_ns = started;
  r.finished_ns = realtime_ns();
  r.value = out.value;
  r.error_type = out.error_type;
  r.error_message = out.error_message;
  publish(c.header, c.index, r);
  thread_scratch().give_back(std::move(out.value));
  fault_point("publish_after_commit");
  // The result is published before the claim is withdrawn: a worker killed
  // in between leaves a result the supervisor reads before it blames the claim.
  row.claimed.store(0, std::memory_order_release);
  row.tasks_done.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

int run_worker(const worker_config& c) noexcept {
  segment_header* h = c.header;
  worker_row& row = row_at(h, c.index);
  row.pid.store(c.pid, std::memory_order_relaxed);
  row.attached.store(1, std::memory_order_release);
  if (!run_initializer(c, row)) return exit_start_failed;
  set_row_state(row, row_state::idle);

  std::size_t tasks = 0;
  for (;;) {
    try {
      lock_queue(h);
      if (wait_for_work_locked(h) == wait_outcome::exit) {
        unlock_queue(h);
        set_row_state(row, row_state::exiting);
        return 0;
      }
    } catch (...) {
      // The queue lock is unrecoverable (segment_poisoned): nothing more can
      // be claimed safely. wait_for_work_locked throws only from lock_queue,
      // so the lock is not held here.
      set_row_state(row, row_state::exiting);
      return exit_queue_poisoned;
    }
    claim_locked(h, c.index);
    unlock_queue(h);
    run_and_publish(c, row);
    ++tasks;
    const bool recycle = c.max_tasks != 0 && tasks >= c.max_tasks;
    set_row_state(row, recycle ? row_state::exiting : row_state::idle);
    wake_collector(h, c.wake_fd);
    if (recycle) return 0;
  }
}

}  // namespace procpool::detail
