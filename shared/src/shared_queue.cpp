// shared_queue: a byte ring of variable-size records plus control words changed
// through a redo journal (see detail/shared_containers.hpp).
//
//   [queue_header | ring: record record ... (wrap marker) record ...]
//
// The ring's framing (positions, 8-aligned records, wrap markers) is
// detail/byte_ring.hpp's; a record is {u32 total, u32 len} then len bytes of
// MessagePack. A put into an empty queue moves head and tail to the start of
// the next lap (one journaled commit), so an empty queue's whole storage is one
// free stretch: any item up to the storage size fits.
//
// Lock order: the queue's mutex only. Waits release it (wait_word protocol in
// detail/futex.hpp).
#include <procpool/shared/detail/byte_ring.hpp>
#include <procpool/shared/detail/codec.hpp>
#include <procpool/shared/detail/container_guard.hpp>
#include <procpool/shared/detail/deadline.hpp>
#include <procpool/shared/detail/fault.hpp>
#include <procpool/shared/detail/shared_containers.hpp>
#include <procpool/shared/detail/shared_state_arena.hpp>
#include <procpool/shared/error.hpp>
#include <procpool/shared/shared_queue.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <new>
#include <span>
#include <string>
#include <vector>

namespace procpool {
namespace detail {
namespace {

constexpr const char* kind_name = "queue";
constexpr std::uint64_t min_storage = 64;

constexpr std::uint64_t align8_up(std::uint64_t n) noexcept { return (n + 7U) & ~std::uint64_t{7}; }

inline void ordered() noexcept { std::atomic_signal_fence(std::memory_order_seq_cst); }

byte_ring ring_of(queue_header* h) noexcept {
  return {reinterpret_cast<std::uint8_t*>(h) + h->ring_offset, h->capacity};
}

/// Stores new control words through the journal. Requires: mutex held, and
/// every record byte the new words publish already written.
void commit(queue_header* h, const queue_words& next) noexcept {
  h->journal = next;
  ordered();
  h->journal_valid.store(1, std::memory_order_relaxed);
  ordered();
  fault_point("queue_mid_commit");
  h->words = next;
  ordered();
  h->journal_valid.store(0, std::memory_order_relaxed);
}

/// Owner-death repair: finish a journaled commit, then walk the ring.
bool repair_queue_state(void* state) noexcept {
  auto* h = static_cast<queue_header*>(state);
  if (h->magic != queue_magic || h->capacity < min_storage || h->capacity % 8 != 0) return false;
  if (h->journal_valid.load(std::memory_order_relaxed) != 0) {
    h->words = h->journal;
    ordered();
    h->journal_valid.store(0, std::memory_order_relaxed);
  }
  queue_words& w = h->words;
  const auto walked = ring_of(h).walk(w.head, w.tail, sizeof(queue_record),
                                      [](const std::uint8_t* rec, std::uint32_t total) {
                                        queue_record r{};
                                        std::memcpy(&r, rec, sizeof r);
                                        return r.len <= total - sizeof r;
                                      });
  if (!walked.legal) return false;
  w.count = walked.records;
  ++h->repairs;
  return true;
}

class queue_lock : public container_guard {
 public:
  queue_lock(queue_header* h, const char* name)
      : container_guard(h->mutex, kind_name, name, &repair_queue_state, h) {}
};

/// Sleeps on `w` with the lock released, at most wait_recheck_interval (a
/// notifier may have died before its wake-up); returns with it held again.
/// Requires: `g` held, the awaited condition false.
void wait_unlocked(queue_lock& g, wait_word& w, const deadline& d) {
  const std::uint32_t seen = w.snapshot();
  w.prepare_wait();
  g.unlock();
  (void)w.wait(seen, std::min<std::chrono::nanoseconds>(d.remaining(), wait_recheck_interval));
  w.finish_wait();
  g.relock();
}

enum class put_status { ok, no_room };

/// Writes one record if it fits (maxsize and bytes) and commits it.
/// Requires: mutex held; record <= capacity.
put_status try_put_locked(queue_header* h, std::span<const std::uint8_t> enc,
                          std::uint64_t record) noexcept {
  const queue_words& w = h->words;
  if (h->maxsize > 0 && w.count >= static_cast<std::uint64_t>(h->maxsize)) return put_status::no_room;
  const byte_ring ring = ring_of(h);
  queue_words next = w;
  std::uint64_t start = 0;
  std::uint8_t* dst = nullptr;
  if (w.count == 0) {
    // Empty: start at the beginning of the next lap (head moves there too, so
    // no wrap marker is needed), and the whole storage is one free stretch.
    start = ring.lap_start_from(w.tail);
    next.head = start;
    dst = ring.at(start);
  } else if (ring.place(w.head, w.tail, record, start)) {
    dst = ring.begin_record(w.tail, start);
  } else {
    return put_status::no_room;
  }
  record_writer out(dst);
  const queue_record rec{static_cast<std::uint32_t>(record), static_cast<std::uint32_t>(enc.size())};
  out.put(&rec, sizeof rec);
  out.put(enc.data(), enc.size());
  ordered();
  fault_point("queue_before_commit");
  next.tail = start + record;
  next.count = w.count + 1;
  next.put_seq = w.put_seq + 1;
  commit(h, next);
  return put_status::ok;
}

/// Where the oldest record starts (past a wrap marker) and its header.
/// Requires: mutex held, count > 0.
std::uint64_t oldest(queue_header* h, queue_record& rec) noexcept {
  const byte_ring ring = ring_of(h);
  const std::uint64_t pos = ring.locate(h->words.head);
  std::memcpy(&rec, ring.at(pos), sizeof rec);
  return pos;
}

/// Drops the oldest record. Requires: mutex held, count > 0.
void pop_locked(queue_header* h, std::uint64_t pos, const queue_record& rec) noexcept {
  queue_words next = h->words;
  next.head = pos + rec.total;
  next.count -= 1;
  commit(h, next);
}

std::vector<std::uint8_t>& scratch() {
  thread_local std::vector<std::uint8_t> buf;
  return buf;
}

std::string quoted(const char* name) { return std::string("'") + name + "'"; }

}  // namespace
}  // namespace detail

using detail::queue_header;
using detail::queue_lock;

shared_queue shared_queue::create(detail::shared_state_arena& arena, std::string_view name,
                                  std::int64_t maxsize, std::size_t storage_bytes) {
  if (storage_bytes < detail::min_storage || storage_bytes > (std::size_t{1} << 31U)) {
    throw error(errc::invalid_argument, "make_queue: '" + std::string(name) +
                                            "': storage must be 64 bytes to 2 GiB, got " +
                                            std::to_string(storage_bytes));
  }
  const std::uint64_t cap = detail::align8_up(storage_bytes);
  const std::uint64_t ring_offset = (sizeof(queue_header) + 63U) / 64U * 64U;
  const auto obj = arena.create(
      name, detail::shared_kind::queue, 0, static_cast<std::size_t>(ring_offset + cap), 64,
      [&](void* p) {
        auto* h = new (p) queue_header();
        h->magic = detail::queue_magic;
        h->maxsize = maxsize;
        h->capacity = cap;
        h->ring_offset = ring_offset;
        h->words = detail::queue_words{};
        h->journal = detail::queue_words{};
        h->journal_valid.store(0, std::memory_order_relaxed);
        h->repairs = 0;
        h->mutex.init(false);
      });
  return shared_queue(static_cast<queue_header*>(obj.storage), obj.name);
}

shared_queue shared_queue::open(detail::shared_state_arena& arena, std::string_view name) {
  const auto obj = arena.find(name, detail::shared_kind::queue);
  auto* h = static_cast<queue_header*>(obj.storage);
  if (h->magic != detail::queue_magic) {
    throw error(errc::segment_poisoned, "open queue: '" + std::string(name) + "' is damaged");
  }
  return shared_queue(h, obj.name);
}

std::int64_t shared_queue::maxsize() const noexcept { return h_->maxsize; }
std::size_t shared_queue::storage_bytes() const noexcept { return h_->capacity; }

namespace {

enum class wait_mode { none, bounded };

/// put's core: true if stored, false if it gave up (no room, time out).
bool put_impl(queue_header* h, const char* name, const nlohmann::json& item, bool block,
              std::optional<std::chrono::nanoseconds> timeout, const char* where) {
  const std::vector<std::uint8_t> enc = detail::encode(item);
  const std::uint64_t record = detail::align8_up(sizeof(detail::queue_record) + enc.size());
  if (record > h->capacity || enc.size() > 0xFFFFFFF0U) {
    throw error(errc::too_large, std::string(where) + ": queue " + detail::quoted(name) +
                                     ": an item of " + std::to_string(enc.size()) +
                                     " encoded bytes can never fit in its " +
                                     std::to_string(h->capacity) + " bytes of storage");
  }
  const auto until = detail::deadline::after(block ? timeout : std::chrono::nanoseconds{0});
  queue_lock g(h, name);
  for (;;) {
    if (detail::try_put_locked(h, enc, record) == detail::put_status::ok) {
      g.unlock();
      h->not_empty.notify_one();
      return true;
    }
    if (!block || until.passed()) return false;
    detail::wait_unlocked(g, h->not_full, until);
  }
}

/// get's core: the item, or nullopt if it gave up.
std::optional<nlohmann::json> get_impl(queue_header* h, const char* name, bool block,
                                       std::optional<std::chrono::nanoseconds> timeout) {
  const auto until = detail::deadline::after(block ? timeout : std::chrono::nanoseconds{0});
  std::vector<std::uint8_t>& buf = detail::scratch();
  std::size_t len = 0;
  {
    queue_lock g(h, name);
    for (;;) {
      if (h->words.count > 0) {
        detail::queue_record rec{};
        const std::uint64_t pos = detail::oldest(h, rec);
        if (buf.size() < rec.len) {
          // Grow the private buffer without holding the lock, then look again.
          g.unlock();
          buf.resize(rec.len);
          g.relock();
          continue;
        }
        len = rec.len;
        std::memcpy(buf.data(), detail::ring_of(h).at(pos) + sizeof rec, len);
        detail::pop_locked(h, pos, rec);
        break;
      }
      if (!block || until.passed()) return std::nullopt;
      detail::wait_unlocked(g, h->not_empty, until);
    }
  }
  // Room for any waiting producer (sizes differ: wake them all, if any sleep).
  h->not_full.notify_all();
  return detail::decode(std::span<const std::uint8_t>(buf.data(), len));
}

}  // namespace

void shared_queue::put(const nlohmann::json& item, bool block,
                       std::optional<std::chrono::nanoseconds> timeout) {
  if (!put_impl(h_, name_, item, block, timeout, "shared_queue::put")) {
    throw error(errc::full,
                "shared_queue::put: queue " + detail::quoted(name_) + " is full" +
                    (h_->maxsize > 0 ? " (maxsize " + std::to_string(h_->maxsize) + ")"
                                     : " (its " + std::to_string(h_->capacity) +
                                           " bytes of storage are used up)") +
                    (block && timeout ? " after the timeout" : ""));
  }
}

void shared_queue::put_nowait(const nlohmann::json& item) { put(item, false); }

bool shared_queue::try_put(const nlohmann::json& item, std::chrono::nanoseconds timeout) {
  return put_impl(h_, name_, item, timeout.count() > 0, timeout, "shared_queue::try_put");
}

nlohmann::json shared_queue::get(bool block, std::optional<std::chrono::nanoseconds> timeout) {
  auto v = get_impl(h_, name_, block, timeout);
  if (!v) {
    throw error(errc::timeout, "shared_queue::get: queue " + detail::quoted(name_) + " empty" +
                                   (block && timeout ? " after the timeout" : ""));
  }
  return std::move(*v);
}

nlohmann::json shared_queue::get_nowait() { return get(false); }

std::optional<nlohmann::json> shared_queue::try_get(std::chrono::nanoseconds timeout) {
  return get_impl(h_, name_, timeout.count() > 0, timeout);
}

std::size_t shared_queue::qsize() const {
  queue_lock g(h_, name_);
  return static_cast<std::size_t>(h_->words.count);
}

bool shared_queue::empty() const { return qsize() == 0; }

bool shared_queue::full() const {
  if (h_->maxsize <= 0) return false;
  return qsize() >= static_cast<std::size_t>(h_->maxsize);
}

void shared_queue::task_done() {
  bool all_done = false;
  {
    queue_lock g(h_, name_);
    detail::queue_words next = h_->words;
    if (next.done >= next.put_seq) {
      throw error(errc::invalid_argument,
                  "shared_queue::task_done: queue " + detail::quoted(name_) +
                      ": called more times than items were put (no unfinished item)");
    }
    next.done += 1;
    detail::commit(h_, next);
    all_done = next.done == next.put_seq;
  }
  if (all_done) h_->all_done.notify_all();
}

bool shared_queue::join(std::optional<std::chrono::nanoseconds> timeout) {
  const auto until = detail::deadline::after(timeout);
  queue_lock g(h_, name_);
  for (;;) {
    if (h_->words.done == h_->words.put_seq) return true;
    if (until.passed()) return false;
    detail::wait_unlocked(g, h_->all_done, until);
  }
}

std::size_t shared_queue::unfinished_tasks() const {
  queue_lock g(h_, name_);
  return static_cast<std::size_t>(h_->words.put_seq - h_->words.done);
}

std::size_t shared_queue::clear() {
  std::uint64_t dropped = 0;
  bool all_done = false;
  {
    queue_lock g(h_, name_);
    detail::queue_words next = h_->words;
    dropped = next.count;
    if (dropped == 0) return 0;
    next.head = next.tail;
    next.count = 0;
    // Items already marked done (task_done() may precede get()) are not
    // counted twice.
    next.done = std::min(next.done + dropped, next.put_seq);
    detail::commit(h_, next);
    all_done = next.done == next.put_seq;
  }
  h_->not_full.notify_all();
  if (all_done) h_->all_done.notify_all();
  return static_cast<std::size_t>(dropped);
}

}  // namespace procpool
