#include <procpool/shared/detail/fault.hpp>
#include <procpool/shared/detail/layout.hpp>
#include <procpool/shared/error.hpp>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <new>

namespace procpool::detail {
namespace {

constexpr std::uint64_t align64(std::uint64_t n) noexcept { return (n + 63U) & ~std::uint64_t{63}; }
constexpr std::uint64_t max_error_type_bytes = 512;

std::uint64_t max_message_bytes(std::uint64_t max_payload) noexcept {
  return align8(sizeof(message_header) + max_tag_bytes + max_task_name_bytes + max_payload);
}

// ---- byte-ring framing shared by the task ring and the result rings -------
// Positions grow without bound; the physical offset is position % capacity.
// Every record is 8-aligned and starts with a nonzero u32 `total`; a u32 zero
// is a wrap marker telling the reader the rest up to the end is unused.

/// Where a record of `total` bytes would start; false if it does not fit.
bool place(std::uint64_t head, std::uint64_t tail, std::uint64_t cap, std::uint64_t total,
           std::uint64_t& start) noexcept {
  const std::uint64_t free = cap - (tail - head);
  const std::uint64_t to_end = cap - tail % cap;
  if (total <= to_end) {
    if (total > free) return false;
    start = tail;
    return true;
  }
  if (to_end + total > free) return false;
  start = tail + to_end;
  return true;
}

/// Writes the wrap marker if `start` skipped the end; returns where the record goes.
std::uint8_t* begin_record(std::uint8_t* data, std::uint64_t cap, std::uint64_t tail,
                           std::uint64_t start) noexcept {
  if (start != tail) {
    const std::uint32_t marker = 0;
    std::memcpy(data + tail % cap, &marker, sizeof marker);
  }
  return data + start % cap;
}

/// The record at `pos` (moved past a wrap marker). Requires pos != tail.
const std::uint8_t* record_at(const std::uint8_t* data, std::uint64_t cap, std::uint64_t& pos) noexcept {
  std::uint64_t phys = pos % cap;
  std::uint32_t total = 0;
  std::memcpy(&total, data + phys, sizeof total);
  if (total == 0) {
    pos += cap - phys;
    phys = 0;
  }
  return data + phys;
}

void put(std::uint8_t*& out, const void* src, std::size_t n) noexcept {
  if (n != 0) std::memcpy(out, src, n);
  out += n;
}

}  // namespace

layout_sizes compute_layout(std::uint32_t workers, std::uint64_t max_queue,
                            std::uint64_t max_payload) noexcept {
  layout_sizes s{};
  const std::uint64_t max_msg = max_message_bytes(max_payload);
  s.ring_offset = align64(sizeof(segment_header));
  // Room for two of the largest messages (so one always fits once the ring
  // drains) plus a modest slot per queued small task.
  s.ring_bytes = align64(2 * max_msg + std::min<std::uint64_t>(max_queue, 1U << 16U) * 128U);
  s.rows_offset = align64(s.ring_offset + s.ring_bytes);
  s.claim_bytes = align64(max_msg);
  s.result_bytes = align64(2 * max_result_record_bytes(max_payload) + 64);
  s.row_stride = align64(sizeof(worker_row) + s.claim_bytes + s.result_bytes);
  s.total_bytes = s.rows_offset + s.row_stride * workers;
  return s;
}

segment_header* init_layout(void* base, std::uint32_t workers, std::uint64_t max_queue,
                            std::uint64_t max_payload) {
  const layout_sizes s = compute_layout(workers, max_queue, max_payload);
  auto* h = new (base) segment_header{};
  h->magic = layout_magic;
  h->version = layout_version;
  h->worker_count = workers;
  h->max_queue = max_queue;
  h->max_payload = max_payload;
  h->ring_offset = s.ring_offset;
  h->ring_bytes = s.ring_bytes;
  h->rows_offset = s.rows_offset;
  h->row_stride = s.row_stride;
  h->claim_bytes = s.claim_bytes;
  h->result_bytes = s.result_bytes;
  h->total_bytes = s.total_bytes;
  h->queue.lock.init();
  for (std::uint32_t i = 0; i < workers; ++i) {
    new (base_of(h) + h->rows_offset + h->row_stride * i) worker_row{};
  }
  return h;
}

// ---- task ring ---------------------------------------------------------------

std::uint64_t message_bytes(const outgoing_message& m) noexcept {
  return align8(sizeof(message_header) + m.tag.size() + m.task_name.size() + m.args.size());
}

push_result push_locked(segment_header* h, const outgoing_message& m, bool is_retry) noexcept {
  queue_control& q = h->queue;
  if (q.stopping.load(std::memory_order_relaxed) != 0) return push_result::refused;
  if (!is_retry && q.closing.load(std::memory_order_relaxed) != 0) return push_result::refused;
  const std::uint64_t pushed = q.pushed.load(std::memory_order_relaxed);
  if (!is_retry && pushed - q.popped.load(std::memory_order_relaxed) >= h->max_queue) {
    return push_result::full;
  }
  const std::uint64_t total = message_bytes(m);
  const std::uint64_t head = q.head.load(std::memory_order_relaxed);
  const std::uint64_t tail = q.tail.load(std::memory_order_relaxed);
  std::uint64_t start = 0;
  if (!place(head, tail, h->ring_bytes, total, start)) return push_result::full;

  message_header mh{};
  mh.total = static_cast<std::uint32_t>(total);
  mh.attempt = m.attempt;
  mh.task_id = m.task_id;
  mh.tag_len = static_cast<std::uint32_t>(m.tag.size());
  mh.name_len = static_cast<std::uint32_t>(m.task_name.size());
  mh.args_len = static_cast<std::uint32_t>(m.args.size());
  mh.flags = m.flags;
  std::uint8_t* out = begin_record(ring_data(h), h->ring_bytes, tail, start);
  put(out, &mh, sizeof mh);
  put(out, m.tag.data(), m.tag.size());
  put(out, m.task_name.data(), m.task_name.size());
  put(out, m.args.data(), m.args.size());

  q.tail.store(start + total, std::memory_order_release);  // publish
  q.pushed.store(pushed + 1, std::memory_order_relaxed);
  q.not_empty.notify_one();
  return push_result::ok;
}

void claim_locked(segment_header* h, std::uint32_t i) noexcept {
  queue_control& q = h->queue;
  std::uint64_t pos = q.head.load(std::memory_order_relaxed);
  const std::uint8_t* rec = record_at(ring_data(h), h->ring_bytes, pos);
  message_header mh{};
  std::memcpy(&mh, rec, sizeof mh);
  std::memcpy(claim_buffer(h, i), rec, mh.total);
  worker_row& row = row_at(h, i);
  row.claim_attempt.store(mh.attempt, std::memory_order_relaxed);
  row.stop.store(0, std::memory_order_relaxed);  // a stop request is per task
  row.claim_started_ns.store(realtime_ns(), std::memory_order_relaxed);
  row.claim_mono_ns.store(monotonic_ns(), std::memory_order_relaxed);
  row.claimed.store(mh.task_id, std::memory_order_release);  // the claim
  row.state.store(static_cast<std::uint32_t>(row_state::busy), std::memory_order_release);
  fault_point("claim_before_head");
  q.head.store(pos + mh.total, std::memory_order_release);  // taken: the final store
  fault_point("claim_after_head");
  q.popped.fetch_add(1, std::memory_order_relaxed);
  q.not_full.notify_one();
}

std::uint64_t head_task_id_locked(segment_header* h) noexcept {
  if (ring_empty_locked(h)) return 0;
  std::uint64_t pos = h->queue.head.load(std::memory_order_relaxed);
  const std::uint8_t* rec = record_at(ring_data(h), h->ring_bytes, pos);
  message_header mh{};
  std::memcpy(&mh, rec, sizeof mh);
  return mh.task_id;
}

std::uint64_t drop_head_locked(segment_header* h) noexcept {
  if (ring_empty_locked(h)) return 0;
  queue_control& q = h->queue;
  std::uint64_t pos = q.head.load(std::memory_order_relaxed);
  const std::uint8_t* rec = record_at(ring_data(h), h->ring_bytes, pos);
  message_header mh{};
  std::memcpy(&mh, rec, sizeof mh);
  q.head.store(pos + mh.total, std::memory_order_release);
  q.popped.fetch_add(1, std::memory_order_relaxed);
  q.not_full.notify_one();
  return mh.task_id;
}

void repair_queue(segment_header* h) noexcept {
  queue_control& q = h->queue;
  // A claimant that died before its final store left `claimed` naming the
  // message still at the head: withdraw that claim, the message stays queued.
  const std::uint64_t head_id = head_task_id_locked(h);
  if (head_id != 0) {
    for (std::uint32_t i = 0; i < h->worker_count; ++i) {
      worker_row& row = row_at(h, i);
      std::uint64_t expected = head_id;
      row.claimed.compare_exchange_strong(expected, 0, std::memory_order_acq_rel);
    }
  }
  // `popped` is stored after `head`: recount what the ring really holds. Retries
  // may hold more than max_queue messages, so walk all the way from head to
  // tail; the walk is bounded by the ring's bytes (every record is nonzero and
  // never runs past the tail).
  std::uint64_t n = 0;
  std::uint64_t pos = q.head.load(std::memory_order_relaxed);
  const std::uint64_t tail = q.tail.load(std::memory_order_relaxed);
  while (pos < tail) {
    const std::uint8_t* rec = record_at(ring_data(h), h->ring_bytes, pos);
    std::uint32_t total = 0;
    std::memcpy(&total, rec, sizeof total);
    if (total == 0 || pos + total > tail) break;  // only a stray write gets here
    pos += total;
    ++n;
  }
  // Modular: pushed - popped is exactly n, even if pushed itself lags the tail.
  q.popped.store(q.pushed.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
  // Sleepers counted by a dead waiter are harmless (a spare wake); make sure
  // nobody sleeps through the repair.
  q.not_empty.notify_all();
  q.not_full.notify_all();
}

void lock_queue(segment_header* h) {
  if (h->queue.lock.lock() == robust_mutex::lock_result::owner_died) {
    repair_queue(h);
    h->queue.lock.mark_consistent();
  }
}

void unlock_queue(segment_header* h) noexcept { h->queue.lock.unlock(); }

queue_lock::queue_lock(segment_header* h) : h_(h) { lock_queue(h_); }

queue_lock::~queue_lock() { unlock_queue(h_); }

claimed_message read_claim(segment_header* h, std::uint32_t i) noexcept {
  const std::uint8_t* p = claim_buffer(h, i);
  message_header mh{};
  std::memcpy(&mh, p, sizeof mh);
  const char* text = reinterpret_cast<const char*>(p + sizeof mh);
  claimed_message m{};
  m.task_id = mh.task_id;
  m.attempt = mh.attempt;
  m.flags = mh.flags;
  m.tag = std::string_view(text, mh.tag_len);
  m.task_name = std::string_view(text + mh.tag_len, mh.name_len);
  m.args = std::span<const std::uint8_t>(p + sizeof mh + mh.tag_len + mh.name_len, mh.args_len);
  return m;
}

// ---- result rings ----------------------------------------------------------------

std::uint64_t result_record_bytes(const outgoing_result& r) noexcept {
  return align8(sizeof(result_header) + r.value.size() +
                std::min<std::uint64_t>(r.error_type.size(), max_error_type_bytes) +
                std::min<std::uint64_t>(r.error_message.size(), max_error_text_bytes));
}

std::uint64_t max_result_record_bytes(std::uint64_t max_payload) noexcept {
  return align8(sizeof(result_header) + std::max(max_payload, max_error_type_bytes + max_error_text_bytes));
}

bool try_write_result(segment_header* h, std::uint32_t i, const outgoing_result& r) noexcept {
  worker_row& row = row_at(h, i);
  const std::uint64_t head = row.res_read.load(std::memory_order_acquire);
  const std::uint64_t tail = row.res_write.load(std::memory_order_relaxed);
  const std::uint64_t total = result_record_bytes(r);
  std::uint64_t start = 0;
  if (!place(head, tail, h->result_bytes, total, start)) return false;
  const auto type_len = std::min<std::uint64_t>(r.error_type.size(), max_error_type_bytes);
  const auto msg_len = std::min<std::uint64_t>(r.error_message.size(), max_error_text_bytes);
  result_header rh{};
  rh.total = static_cast<std::uint32_t>(total);
  rh.state = r.state;
  rh.task_id = r.task_id;
  rh.started_ns = r.started_ns;
  rh.finished_ns = r.finished_ns;
  rh.value_len = static_cast<std::uint32_t>(r.value.size());
  rh.type_len = static_cast<std::uint32_t>(type_len);
  rh.message_len = static_cast<std::uint32_t>(msg_len);
  rh.attempt = r.attempt;
  std::uint8_t* out = begin_record(result_data(h, i), h->result_bytes, tail, start);
  put(out, &rh, sizeof rh);
  put(out, r.value.data(), r.value.size());
  put(out, r.error_type.data(), type_len);
  put(out, r.error_message.data(), msg_len);
  fault_point("publish_before_commit");
  row.res_write.store(start + total, std::memory_order_release);  // publish
  return true;
}

bool peek_result(segment_header* h, std::uint32_t i, incoming_result& out) noexcept {
  worker_row& row = row_at(h, i);
  std::uint64_t pos = row.res_read.load(std::memory_order_relaxed);
  if (pos == row.res_write.load(std::memory_order_acquire)) return false;
  const std::uint8_t* rec = record_at(result_data(h, i), h->result_bytes, pos);
  result_header rh{};
  std::memcpy(&rh, rec, sizeof rh);
  const std::uint8_t* p = rec + sizeof rh;
  out.task_id = rh.task_id;
  out.state = rh.state;
  out.attempt = rh.attempt;
  out.started_ns = rh.started_ns;
  out.finished_ns = rh.finished_ns;
  out.value = std::span<const std::uint8_t>(p, rh.value_len);
  p += rh.value_len;
  out.error_type = std::string_view(reinterpret_cast<const char*>(p), rh.type_len);
  p += rh.type_len;
  out.error_message = std::string_view(reinterpret_cast<const char*>(p), rh.message_len);
  out.next_read = pos + rh.total;
  return true;
}

void pop_result(segment_header* h, std::uint32_t i, std::uint64_t next_read) noexcept {
  worker_row& row = row_at(h, i);
  row.res_read.store(next_read, std::memory_order_release);
  row.res_space.notify_one();
}

std::uint64_t realtime_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000U + static_cast<std::uint64_t>(ts.tv_nsec);
}

std::uint64_t monotonic_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000U + static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace procpool::detail
