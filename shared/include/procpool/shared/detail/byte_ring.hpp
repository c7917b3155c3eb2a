// The framing of variable-size records in a byte ring, shared by the pool's
// task ring and per-worker result rings (layout.cpp) and by shared_queue.
//
//   lap 0                              lap 1
//   [rec][rec][rec][0 ....unused....]  [rec][rec] ...
//                   ^ wrap marker       ^ the record that did not fit before the end
//
// Positions grow without bound; a position's byte is at position % capacity.
// A record is 8-aligned, starts with a nonzero u32 `total` (its header and
// bytes, rounded up to 8) and never crosses the end of the storage: a record
// that does not fit before the end starts the next lap, and a u32 zero (the
// wrap marker) where it would have started tells readers to skip the rest of
// the lap. Every record header of these rings begins with that u32 `total`.
//
// Crash safety is the caller's: these functions compute places and write bytes
// beyond the published positions only. The caller publishes a record with one
// final store of its tail (or consumes one with one store of its head), after
// everything here is written.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace procpool::detail {

/// A view of a byte ring's storage: `cap` bytes (a nonzero multiple of 8) at
/// `data`. Holds no positions: those live in the ring's control words.
class byte_ring {
 public:
  byte_ring(std::uint8_t* data, std::uint64_t cap) noexcept : data_(data), cap_(cap) {}

  [[nodiscard]] std::uint64_t capacity() const noexcept { return cap_; }

  /// Where a record of `total` bytes (8-aligned, at most the capacity) appended
  /// at `tail` starts: at `tail`, or at the next lap if it would cross the end
  /// (the rest of the lap is then spent). False if the free bytes,
  /// capacity - (tail - head), do not hold it.
  [[nodiscard]] bool place(std::uint64_t head, std::uint64_t tail, std::uint64_t total,
                           std::uint64_t& start) const noexcept {
    const std::uint64_t free = cap_ - (tail - head);
    const std::uint64_t to_end = cap_ - tail % cap_;
    start = total <= to_end ? tail : tail + to_end;
    return (start - tail) + total <= free;
  }

  /// `pos` if it is the first byte of a lap, otherwise the next lap's start.
  [[nodiscard]] std::uint64_t lap_start_from(std::uint64_t pos) const noexcept {
    const std::uint64_t phys = pos % cap_;
    return phys == 0 ? pos : pos + (cap_ - phys);
  }

  /// Writes the wrap marker at `tail` if `start` (from place()) skipped the
  /// rest of the lap; returns where the record's bytes go.
  std::uint8_t* begin_record(std::uint64_t tail, std::uint64_t start) const noexcept {
    if (start != tail) {
      const std::uint32_t marker = 0;
      std::memcpy(data_ + tail % cap_, &marker, sizeof marker);
    }
    return data_ + start % cap_;
  }

  /// Position of the record at `pos`: `pos`, or the next lap's start if a wrap
  /// marker is there. Requires: a record at or after `pos` (pos != tail).
  [[nodiscard]] std::uint64_t locate(std::uint64_t pos) const noexcept {
    return total_at(pos) == 0 ? lap_start_from(pos) : pos;
  }

  /// The bytes at `pos`.
  [[nodiscard]] std::uint8_t* at(std::uint64_t pos) const noexcept { return data_ + pos % cap_; }

  /// The u32 at `pos`: a record's `total`, or 0 for a wrap marker.
  [[nodiscard]] std::uint32_t total_at(std::uint64_t pos) const noexcept {
    std::uint32_t total = 0;
    std::memcpy(&total, at(pos), sizeof total);
    return total;
  }

  struct walk_result {
    bool legal;             ///< every byte from head to tail frames records
    std::uint64_t records;  ///< records from head up to the first illegal one
  };

  /// Counts the records from `head` to `tail` (owner-death repairs recount
  /// this way). Legal: head <= tail <= head + capacity, both 8-aligned, every
  /// record at least `min_total` bytes, 8-aligned, inside its lap, ending at or
  /// before the tail, and accepted by `record_ok(bytes, total)`; a wrap marker
  /// only after the lap's first byte. Bounded by the ring's bytes: each step
  /// moves forward and never past the tail.
  template <class RecordOk>
  [[nodiscard]] walk_result walk(std::uint64_t head, std::uint64_t tail, std::uint32_t min_total,
                                 RecordOk&& record_ok) const noexcept {
    walk_result r{false, 0};
    if (head > tail || tail - head > cap_ || head % 8 != 0 || tail % 8 != 0) return r;
    std::uint64_t pos = head;
    while (pos != tail) {
      if (total_at(pos) == 0) {
        if (pos % cap_ == 0) return r;  // a lap cannot begin with a marker
        pos = lap_start_from(pos);
        if (pos > tail) return r;
        if (pos == tail) break;  // not written so (a record follows a marker), but harmless
      }
      const std::uint32_t total = total_at(pos);
      if (total < min_total || total % 8 != 0 || total > cap_ - pos % cap_ || total > tail - pos ||
          !record_ok(static_cast<const std::uint8_t*>(at(pos)), total)) {
        return r;
      }
      pos += total;
      ++r.records;
    }
    r.legal = true;
    return r;
  }

 private:
  std::uint8_t* data_;
  std::uint64_t cap_;
};

/// Appends the parts of one record in turn (a record is contiguous).
class record_writer {
 public:
  explicit record_writer(std::uint8_t* out) noexcept : out_(out) {}
  void put(const void* src, std::size_t n) noexcept {
    if (n != 0) std::memcpy(out_, src, n);
    out_ += n;
  }

 private:
  std::uint8_t* out_;
};

}  // namespace procpool::detail
