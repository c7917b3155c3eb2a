#include <procpool/shared/detail/byte_ring.hpp>
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

byte_ring task_ring(segment_header* h) noexcept { return {ring_data(h), h->ring_bytes}; }
byte_ring result_ring(segment_header* h, std::uint32_t i) noexcept {
  return {result_data(h, i), h->result_bytes};
}

/// The header of the task message at `pos` (a located record).
message_header message_at(const byte_ring& ring, std::uint64_t pos) noexcept {
  message_header mh{};
  std::memcpy(&mh, ring.at(pos), sizeof mh);
  return mh;
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
  const byte_ring ring = task_ring(h);
  std::uint64_t start = 0;
  if (!ring.place(head, tail, total, start)) return push_result::full;

  message_header mh{};
  mh.total = static_cast<std::uint32_t>(total);
  mh.attempt = m.attempt;
  mh.task_id = m.task_id;
  mh.tag_len = static_cast<std::uint32_t>(m.tag.size());
  mh.name_len = static_cast<std::uint32_t>(m.task_name.size());
  mh.args_len = static_cast<std::uint32_t>(m.args.size());
  mh.flags = m.flags;
  record_writer out(ring.begin_record(tail, start));
  out.put(&mh, sizeof mh);
  out.put(m.tag.data(), m.tag.size());
  out.put(m.task_name.data(), m.task_name.size());
  out.put(m.args.data(), m.args.size());

  q.tail.store(start + total, std::memory_order_release);  // publish
  q.pushed.store(pushed + 1, std::memory_order_relaxed);
  q.not_empty.notify_one();
  return push_result::ok;
}

void claim_locked(segment_header* h, std::uint32_t i) noexcept {
  queue_control& q = h->queue;
  const byte_ring ring = task_ring(h);
  const std::uint64_t pos = ring.locate(q.head.load(std::memory_order_relaxed));
  const message_header mh = message_at(ring, pos);
  std::memcpy(claim_buffer(h, i), ring.at(pos), mh.total);
  worker_row& row = row_at(h, i);
  row.claim_attempt.store(mh.attempt, std::memory_order_relaxed);
  row.stop.store(0, std::memory_order_relaxed);  // a stop request is per task
  row.claim_started_ns.store(realtime_ns(), std::memory_order_relaxed);
  row.claim_mono_ns.store(monotonic_ns(), std::memory_order_relaxed);
  row.batch_item.store(0, std::memory_order_relaxed);
  row.claimed.store(mh.task_id, std::memory_order_release);  // the claim
  fault_point("claim_before_head");
  q.head.store(pos + mh.total, std::memory_order_release);  // taken: the final store
  fault_point("claim_after_head");
  q.popped.fetch_add(1, std::memory_order_relaxed);
  // Busy only once the message no longer counts as queued: a supervisor that
  // sees this row busy (acquire) also sees the count, so it never takes one
  // queued message and no idle worker for demand (an extra worker started).
  row.state.store(static_cast<std::uint32_t>(row_state::busy), std::memory_order_release);
  q.not_full.notify_one();
}

std::uint64_t head_task_id_locked(segment_header* h) noexcept {
  if (ring_empty_locked(h)) return 0;
  const byte_ring ring = task_ring(h);
  return message_at(ring, ring.locate(h->queue.head.load(std::memory_order_relaxed))).task_id;
}

std::uint64_t drop_head_locked(segment_header* h) noexcept {
  if (ring_empty_locked(h)) return 0;
  queue_control& q = h->queue;
  const byte_ring ring = task_ring(h);
  const std::uint64_t pos = ring.locate(q.head.load(std::memory_order_relaxed));
  const message_header mh = message_at(ring, pos);
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
  // `popped` is stored after `head`: recount what the ring really holds, all
  // the way to the tail (retries may hold more than max_queue messages). Only
  // a stray write makes the ring illegal; the records before it are counted.
  const auto counted = task_ring(h).walk(
      q.head.load(std::memory_order_relaxed), q.tail.load(std::memory_order_relaxed),
      sizeof(message_header), [](const std::uint8_t* rec, std::uint32_t total) {
        message_header mh{};
        std::memcpy(&mh, rec, sizeof mh);
        return sizeof mh + std::uint64_t{mh.tag_len} + mh.name_len + mh.args_len <= total;
      });
  // Modular: pushed - popped is exactly the count, even if pushed lags the tail.
  q.popped.store(q.pushed.load(std::memory_order_relaxed) - counted.records, std::memory_order_relaxed);
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
  const byte_ring ring = result_ring(h, i);
  std::uint64_t start = 0;
  if (!ring.place(head, tail, total, start)) return false;
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
  record_writer out(ring.begin_record(tail, start));
  out.put(&rh, sizeof rh);
  out.put(r.value.data(), r.value.size());
  out.put(r.error_type.data(), type_len);
  out.put(r.error_message.data(), msg_len);
  fault_point("publish_before_commit");
  row.res_write.store(start + total, std::memory_order_release);  // publish
  return true;
}

bool peek_result(segment_header* h, std::uint32_t i, incoming_result& out) noexcept {
  worker_row& row = row_at(h, i);
  const std::uint64_t read = row.res_read.load(std::memory_order_relaxed);
  if (read == row.res_write.load(std::memory_order_acquire)) return false;
  const byte_ring ring = result_ring(h, i);
  const std::uint64_t pos = ring.locate(read);
  const std::uint8_t* rec = ring.at(pos);
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
