// The in-memory layout of every shared container, included by the container
// code and by white-box tests. Everything here lives in the shared-state arena:
// only trivially copyable members, lock-free atomics and pshared_mutex; no
// pointers (offsets from the container's own start); pinned by static_asserts.
//
// Crash safety, container by container (a process may die at any instruction):
//  - lock / rlock / shared_array's lock: user locks. The next acquirer gets the
//    lock and owner_died == true; the data they guard may be half updated.
//  - event: one 32-bit word, changed by single atomic operations.
//  - shared_dict: a value is written into a free slot, published by one 64-bit
//    store into the hash index, and only then is the old slot freed. The free
//    list, the count and the tombstone count are derived data: on EOWNERDEAD the
//    next locker rebuilds them from the index (mark and sweep). A rehash builds
//    the other of two indexes and switches `active` with one store; clear()
//    empties the other index and switches to it the same way.
//  - shared_queue: record bytes are written beyond the published tail; every
//    change of the control words (head, tail, count, put_seq, done) goes
//    through a redo journal: the new values are written to `journal`, then
//    `journal.valid` is set, then the words are stored, then `valid` cleared.
//    On EOWNERDEAD the next locker re-applies a valid journal, then checks the
//    ring by walking it; what does not check out is errc::segment_poisoned.
// Compiler ordering between those steps is pinned with atomic_signal_fence (a
// process killed by a signal observes its own stores in program order); other
// processes read only under the container's mutex.
//
// Blocking calls (shared_queue get/put/join, event::wait) sleep on a futex word
// at most wait_recheck_interval at a time: see there.
#pragma once

#include <procpool/shared/detail/futex.hpp>
#include <procpool/shared/detail/pshared_mutex.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace procpool::detail {

inline constexpr std::uint32_t array_magic = 0x41525259;  // "ARRY"
inline constexpr std::uint32_t dict_magic = 0x44494354;   // "DICT"
inline constexpr std::uint32_t queue_magic = 0x51554555;  // "QUEU"
inline constexpr std::uint32_t lock_magic = 0x4c4f434b;   // "LOCK"
inline constexpr std::uint32_t event_magic = 0x45564e54;  // "EVNT"

/// Longest a blocked container call sleeps before it looks at its condition
/// again. A process killed after publishing a change but before waking the
/// sleepers (or a woken sleeper killed before it looked) leaves them asleep,
/// and no lock reports a death outside the critical section: without this
/// bound they could sleep forever. The cost is one futex call per interval
/// per sleeper.
inline constexpr std::chrono::milliseconds wait_recheck_interval{100};

/// lock and rlock.
struct alignas(64) lock_state {
  std::uint32_t magic;
  std::uint32_t recursive;
  pshared_mutex mutex;
};

/// event: bit 0 is the flag; bits 1.. count set() calls that raised it (a
/// waiter that sees the count move knows a set() happened, even if a clear()
/// followed before it woke up).
struct alignas(64) event_state {
  std::uint32_t magic;
  std::atomic<std::uint32_t> word;
  std::atomic<std::uint32_t> waiters;
};

/// shared_array<T>: this header, then `count` elements at `data_offset`.
struct alignas(64) array_header {
  std::uint32_t magic;
  std::uint32_t elem_size;
  std::uint32_t elem_align;
  std::uint32_t reserved;
  std::uint64_t type_tag;
  std::uint64_t count;
  std::uint64_t data_offset;
  char type_name[40];   ///< typeid(T).name(), truncated (for messages)
  pshared_mutex mutex;  ///< the user's lock (shared_array::lock())
};

// ---- shared_dict ---------------------------------------------------------------

/// A bucket of the open-addressing index: 0 empty, dict_tombstone erased,
/// otherwise (hash >> 32) << 32 | (slot + 1).
inline constexpr std::uint64_t dict_tombstone = ~std::uint64_t{0};

/// One entry slot: this header, then the key bytes, then the MessagePack value.
struct dict_slot {
  std::uint64_t hash;
  std::uint32_t key_len;
  std::uint32_t value_len;
  std::uint32_t next_free;  ///< free-list link (slot + 1, 0 = end); derived data
  std::uint32_t reserved;
};
static_assert(sizeof(dict_slot) == 24);

struct alignas(64) dict_header {
  std::uint32_t magic;
  std::uint32_t capacity;      ///< most entries
  std::uint32_t slot_count;    ///< capacity + 1: an update needs a spare slot
  std::uint32_t slot_bytes;    ///< stride of a slot
  std::uint32_t max_entry;     ///< most key + encoded value bytes
  std::uint32_t bucket_count;  ///< power of two, >= 2 * capacity
  std::uint64_t index_offset[2];
  std::uint64_t slots_offset;
  // Requires: mutex held for every access below.
  std::uint32_t active;      ///< which index is live (the rehash's final store)
  std::uint32_t count;       ///< live entries (derived)
  std::uint32_t tombstones;  ///< in the active index (derived)
  std::uint32_t free_head;   ///< free-list head (slot + 1, 0 = empty; derived)
  std::uint32_t fresh;       ///< slots [fresh, slot_count) were never used
  std::uint32_t reserved;
  std::uint64_t repairs;  ///< owner-death repairs done (diagnostics, tests)
  pshared_mutex mutex;
};

// ---- shared_queue --------------------------------------------------------------

/// One item record in the byte ring (8-aligned), followed by `len` bytes of
/// MessagePack. A u32 zero where a record would start marks a wrap.
struct queue_record {
  std::uint32_t total;  ///< header + bytes, rounded up to 8; nonzero
  std::uint32_t len;
};
static_assert(sizeof(queue_record) == 8);

/// The control words a queue operation changes, as one value.
struct queue_words {
  std::uint64_t head;     ///< byte position of the oldest record (grows forever)
  std::uint64_t tail;     ///< byte position one past the newest
  std::uint64_t count;    ///< records in the ring
  std::uint64_t put_seq;  ///< items ever put
  std::uint64_t done;     ///< task_done() calls plus items dropped by clear()
};
static_assert(std::is_trivially_copyable_v<queue_words>);

struct alignas(64) queue_header {
  std::uint32_t magic;
  std::uint32_t reserved;
  std::int64_t maxsize;       ///< <= 0: bounded by the ring's bytes only
  std::uint64_t capacity;     ///< ring bytes (multiple of 8)
  std::uint64_t ring_offset;  ///< from the header
  // Requires: mutex held for every access below.
  queue_words words;
  queue_words journal;
  std::atomic<std::uint32_t> journal_valid;
  std::uint32_t reserved2;
  std::uint64_t repairs;  ///< owner-death repairs done (diagnostics, tests)
  pshared_mutex mutex;
  wait_word not_empty;  ///< bumped by put
  wait_word not_full;   ///< bumped by get and clear
  wait_word all_done;   ///< bumped when unfinished (put_seq - done) reaches 0
};

static_assert(std::is_trivially_copyable_v<queue_record>);
static_assert(std::is_trivially_copyable_v<dict_slot>);

}  // namespace procpool::detail
