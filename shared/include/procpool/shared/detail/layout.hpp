// The shared-memory layout, included by the supervisor and the workers alike.
//
//   [segment_header | task ring bytes | worker_row 0 | claim 0 | results 0 | row 1 ...]
//
// Only trivially copyable or lock-free atomic members live here; offsets are
// computed once by the supervisor (layout_sizes) and stored in the header.
//
// Crash safety: every structure publishes a change with one final store (a
// ring position, a row's `claimed` word), so a worker killed at any instruction
// leaves either the old or the new state, never half of one. The task ring is
// guarded by a robust mutex; on owner death the next locker runs
// repair_queue(). Each worker's result ring is single-producer (that worker),
// single-consumer (the supervisor) and lock-free: a dead producer's partial
// record sits beyond the published write position and is never read.
#pragma once

#include <procpool/shared/detail/futex.hpp>
#include <procpool/shared/detail/robust_mutex.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>

namespace procpool::detail {

inline constexpr std::uint64_t layout_magic = 0x6c6f6f70636f7270ULL;  // "procpool"
inline constexpr std::uint32_t layout_version = 1;

inline constexpr std::size_t max_tag_bytes = 4096;
inline constexpr std::size_t max_task_name_bytes = 255;
inline constexpr std::size_t max_error_text_bytes = 16384;

static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::int32_t>::is_always_lock_free);

[[nodiscard]] constexpr std::uint64_t align8(std::uint64_t n) noexcept { return (n + 7U) & ~std::uint64_t{7}; }

/// The task queue's control block. Requires: `lock` held for every access,
/// except the lock-free reads of pushed/popped used for statistics.
struct queue_control {
  robust_mutex lock;
  std::atomic<std::uint64_t> head{0};    ///< byte position of the oldest message
  std::atomic<std::uint64_t> tail{0};    ///< byte position one past the newest
  std::atomic<std::uint64_t> pushed{0};  ///< messages ever pushed
  std::atomic<std::uint64_t> popped{0};  ///< messages ever claimed or dropped
  std::atomic<std::uint32_t> closing{0};   ///< workers exit once the ring is empty
  std::atomic<std::uint32_t> stopping{0};  ///< workers exit now; producers refused
  wait_word not_empty;
  wait_word not_full;
};

/// One task message in the ring (8-aligned; `total` covers header and bytes).
/// Followed by tag, task name, then the MessagePack positional arguments.
struct message_header {
  std::uint32_t total;  ///< 0 marks a wrap: the reader skips to the ring's start
  std::uint32_t attempt;
  std::uint64_t task_id;
  std::uint32_t tag_len;
  std::uint32_t name_len;
  std::uint32_t args_len;
  std::uint32_t flags;  ///< message_flags
};
static_assert(sizeof(message_header) == 32);

/// message_header::flags.
enum message_flags : std::uint32_t {
  /// The arguments are an array of positional-argument arrays: the worker runs
  /// the task once per element and returns an array of outcomes, each
  /// [0, value] or [1, error type, error message] (pool::map's chunks).
  message_batch = 1U,
  /// The supervisor wants to know when this message is claimed (a time limit
  /// to arm at once, an observer's task_started): the worker wakes the
  /// collector after claiming it. Others are claimed silently.
  message_wake_on_claim = 2U,
  /// A batch with a time limit per input: the worker marks each input's start
  /// in its row (batch_item, claim_mono_ns, and a wake) and publishes each
  /// input's outcome as it ends (result_batch_item records), so a limit hit by
  /// one input loses none of the outcomes before it.
  message_batch_progress = 4U,
};

/// result_header::state of a record carrying one batch input's outcome:
/// value = [index, outcome]. The message's own final record follows it.
inline constexpr std::uint32_t result_batch_item = 0x100U;
/// Set in result_header::state (with task_state::done) on a batch message's
/// final record: the value is the chunk's outcome array, which the supervisor
/// keeps as bytes for the map engine to read (a JSON binary in result::value).
inline constexpr std::uint32_t result_batch_outcome = 0x200U;
static_assert(std::is_trivially_copyable_v<message_header>);

/// One result record in a worker's result ring, followed by the MessagePack
/// value (done) or the error type and message (failed).
struct result_header {
  std::uint32_t total;  ///< 0 marks a wrap
  std::uint32_t state;  ///< procpool::task_state
  std::uint64_t task_id;
  std::uint64_t started_ns;   ///< CLOCK_REALTIME
  std::uint64_t finished_ns;  ///< CLOCK_REALTIME
  std::uint32_t value_len;
  std::uint32_t type_len;
  std::uint32_t message_len;
  std::uint32_t attempt;
};
static_assert(sizeof(result_header) == 48);

enum class row_state : std::uint32_t {
  empty = 0,     ///< no worker
  starting = 1,  ///< started, running its initializer
  idle = 2,      ///< ready, not running a task
  busy = 3,      ///< running the task in `claimed`
  exiting = 4,   ///< leaving cleanly (close, recycling)
  exited = 5,    ///< thread mode: the thread has returned
};

/// One row of the worker table. Written by its worker; read by the supervisor.
struct alignas(64) worker_row {
  std::atomic<std::uint32_t> state{0};  ///< row_state
  std::atomic<std::int32_t> pid{0};
  std::atomic<std::uint32_t> stop{0};  ///< task_context::stop_requested (cleared at each claim)
  std::atomic<std::uint32_t> start_error_len{0};
  std::atomic<std::uint32_t> attached{0};  ///< the worker reached run_worker (spawn start timeout)
  std::atomic<std::uint64_t> claimed{0};     ///< task id being run, 0 for none
  std::atomic<std::uint64_t> claim_started_ns{0};  ///< CLOCK_REALTIME, for result::started_at
  std::atomic<std::uint64_t> claim_mono_ns{0};     ///< CLOCK_MONOTONIC, for time limits
  std::atomic<std::uint64_t> tasks_done{0};
  std::atomic<std::uint32_t> claim_attempt{0};
  std::atomic<std::uint32_t> batch_item{0};  ///< message_batch_progress: the input running now
  // Result ring positions, each on its own cache line (producer / consumer).
  alignas(64) std::atomic<std::uint64_t> res_write{0};
  alignas(64) std::atomic<std::uint64_t> res_read{0};
  wait_word res_space;  ///< the worker sleeps here while its result ring is full
  char start_error[512];  ///< why the worker could not start (initializer)
};

struct segment_header {
  std::uint64_t magic;
  std::uint32_t version;
  std::uint32_t worker_count;
  std::uint64_t max_queue;
  std::uint64_t max_payload;
  std::uint64_t ring_offset;
  std::uint64_t ring_bytes;
  std::uint64_t rows_offset;
  std::uint64_t row_stride;    ///< worker_row + claim buffer + result ring
  std::uint64_t claim_bytes;   ///< per-row copy of the claimed message
  std::uint64_t result_bytes;  ///< per-row result ring capacity
  std::uint64_t total_bytes;
  /// The supervisor's collector is (about to be) asleep: a worker that
  /// publishes a result writes the wake descriptor once and clears this.
  alignas(64) std::atomic<std::uint32_t> collector_sleeping{0};
  alignas(64) queue_control queue;
};

/// Sizes derived from the pool's options.
struct layout_sizes {
  std::uint64_t ring_offset, ring_bytes, rows_offset, row_stride, claim_bytes, result_bytes,
      total_bytes;
};
[[nodiscard]] layout_sizes compute_layout(std::uint32_t workers, std::uint64_t max_queue,
                                          std::uint64_t max_payload) noexcept;

/// Placement-initialises the header and rows in `base` (zeroed memory).
segment_header* init_layout(void* base, std::uint32_t workers, std::uint64_t max_queue,
                            std::uint64_t max_payload);

[[nodiscard]] inline std::uint8_t* base_of(segment_header* h) noexcept {
  return reinterpret_cast<std::uint8_t*>(h);
}
[[nodiscard]] inline std::uint8_t* ring_data(segment_header* h) noexcept {
  return base_of(h) + h->ring_offset;
}
[[nodiscard]] inline worker_row& row_at(segment_header* h, std::uint32_t i) noexcept {
  return *reinterpret_cast<worker_row*>(base_of(h) + h->rows_offset + h->row_stride * i);
}
[[nodiscard]] inline std::uint8_t* claim_buffer(segment_header* h, std::uint32_t i) noexcept {
  return reinterpret_cast<std::uint8_t*>(&row_at(h, i)) + sizeof(worker_row);
}
[[nodiscard]] inline std::uint8_t* result_data(segment_header* h, std::uint32_t i) noexcept {
  return claim_buffer(h, i) + h->claim_bytes;
}

// ---- the task ring (producer: the supervisor; consumers: the workers) ------

/// A message as the supervisor hands it to push().
struct outgoing_message {
  std::uint64_t task_id;
  std::uint32_t attempt;
  std::uint32_t flags;
  std::string_view tag;
  std::string_view task_name;
  std::span<const std::uint8_t> args;
};
[[nodiscard]] std::uint64_t message_bytes(const outgoing_message& m) noexcept;

enum class push_result { ok, full, refused };
/// Appends one message if it fits. Requires: queue lock held. `refused` when
/// the queue is stopping, or closing for a new task (nothing written). A retry
/// (`is_retry`) of an already accepted task ignores `closing` and max_queue: it
/// is bounded by the ring's bytes only.
[[nodiscard]] push_result push_locked(segment_header* h, const outgoing_message& m,
                                      bool is_retry = false) noexcept;

/// Copies the oldest message into row `i`'s claim buffer, records the claim in
/// the row, then advances the head (the final store). Requires: queue lock held
/// and the ring not empty.
void claim_locked(segment_header* h, std::uint32_t i) noexcept;

/// Task id of the oldest message, or 0 if the ring is empty. Requires: lock held.
[[nodiscard]] std::uint64_t head_task_id_locked(segment_header* h) noexcept;

/// Removes the oldest message and returns its task id, or 0 if empty
/// (terminate() drops the queue this way). Requires: queue lock held.
std::uint64_t drop_head_locked(segment_header* h) noexcept;

[[nodiscard]] inline bool ring_empty_locked(segment_header* h) noexcept {
  return h->queue.head.load(std::memory_order_relaxed) == h->queue.tail.load(std::memory_order_relaxed);
}

/// Owner-death repair of the task ring, run with the lock held after
/// EOWNERDEAD: a claim recorded by a worker that died before advancing the head
/// is withdrawn (the message stays queued), and `popped` is recounted.
void repair_queue(segment_header* h) noexcept;

/// Locks / unlocks the queue; lock_queue repairs it if the previous owner died.
void lock_queue(segment_header* h);
void unlock_queue(segment_header* h) noexcept;

/// Scoped lock_queue / unlock_queue.
class queue_lock {
 public:
  explicit queue_lock(segment_header* h);
  queue_lock(const queue_lock&) = delete;
  queue_lock& operator=(const queue_lock&) = delete;
  ~queue_lock();

 private:
  segment_header* h_;
};

/// Reads of a claimed message in a row's claim buffer: the fields it was
/// pushed with, as views into the buffer.
using claimed_message = outgoing_message;
[[nodiscard]] claimed_message read_claim(segment_header* h, std::uint32_t i) noexcept;

// ---- per-worker result rings (producer: worker i; consumer: supervisor) ----

struct outgoing_result {
  std::uint64_t task_id;
  std::uint32_t state;
  std::uint32_t attempt;
  std::uint64_t started_ns, finished_ns;
  std::span<const std::uint8_t> value;
  std::string_view error_type;
  std::string_view error_message;
};
[[nodiscard]] std::uint64_t result_record_bytes(const outgoing_result& r) noexcept;
/// The largest record a result ring must hold.
[[nodiscard]] std::uint64_t max_result_record_bytes(std::uint64_t max_payload) noexcept;

/// Writes one record if it fits; returns false if the ring is full. Called by
/// the row's worker only. Publishes with one release store of res_write.
[[nodiscard]] bool try_write_result(segment_header* h, std::uint32_t i, const outgoing_result& r) noexcept;

/// A record as the supervisor reads it: the fields of outgoing_result (views
/// into the ring), and where the read position goes once it is consumed.
struct incoming_result : outgoing_result {
  std::uint64_t next_read;
};
/// Reads the oldest published record of row `i` without consuming it; false if
/// none. Called by the supervisor only.
[[nodiscard]] bool peek_result(segment_header* h, std::uint32_t i, incoming_result& out) noexcept;
/// Consumes the record peek_result returned, and wakes the worker if it waits
/// for space.
void pop_result(segment_header* h, std::uint32_t i, std::uint64_t next_read) noexcept;
[[nodiscard]] inline bool results_pending(segment_header* h, std::uint32_t i) noexcept {
  worker_row& r = row_at(h, i);
  return r.res_read.load(std::memory_order_relaxed) != r.res_write.load(std::memory_order_acquire);
}

/// CLOCK_REALTIME in nanoseconds.
[[nodiscard]] std::uint64_t realtime_ns() noexcept;
/// CLOCK_MONOTONIC in nanoseconds: one clock for every process of the machine,
/// the same one std::chrono::steady_clock reads on Linux.
[[nodiscard]] std::uint64_t monotonic_ns() noexcept;

}  // namespace procpool::detail
