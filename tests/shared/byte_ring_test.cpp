// detail::byte_ring, the record framing of the task ring, the result rings and
// shared_queue: placement, wrap markers, locating records, and the walk that
// owner-death repairs recount with.
#include <procpool/shared/detail/byte_ring.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <deque>
#include <random>
#include <vector>

namespace {

using procpool::detail::byte_ring;
using procpool::detail::record_writer;

constexpr std::uint64_t cap = 256;

/// A ring with positions, appending and consuming records the way the task
/// ring and the result rings do; `live` models what it should hold.
struct model_ring {
  std::vector<std::uint8_t> storage = std::vector<std::uint8_t>(cap, 0xEE);
  byte_ring ring{storage.data(), cap};
  std::uint64_t head = 0;
  std::uint64_t tail = 0;
  std::deque<std::uint32_t> live;  ///< totals, oldest first

  bool push(std::uint32_t total) {
    std::uint64_t start = 0;
    if (!ring.place(head, tail, total, start)) return false;
    record_writer out(ring.begin_record(tail, start));
    out.put(&total, sizeof total);
    const std::vector<std::uint8_t> body(total - sizeof total, static_cast<std::uint8_t>(total));
    out.put(body.data(), body.size());
    tail = start + total;
    live.push_back(total);
    return true;
  }
  void pop() {
    const std::uint64_t pos = ring.locate(head);
    ASSERT_EQ(ring.total_at(pos), live.front());
    head = pos + live.front();
    live.pop_front();
  }
  [[nodiscard]] byte_ring::walk_result walk() const {
    return ring.walk(head, tail, 8, [](const std::uint8_t*, std::uint32_t) { return true; });
  }
};

TEST(ByteRingTest, Place_AtTailOrNextLap_OnlyIfTheFreeBytesHoldIt) {
  std::vector<std::uint8_t> storage(cap);
  const byte_ring ring(storage.data(), cap);
  std::uint64_t start = 0;
  EXPECT_TRUE(ring.place(0, 0, cap, start));  // an empty ring holds one record of its size
  EXPECT_EQ(start, 0U);
  EXPECT_TRUE(ring.place(100, 200, 56, start));  // exactly to the end
  EXPECT_EQ(start, 200U);
  EXPECT_TRUE(ring.place(200, 240, 64, start));  // crosses the end: the next lap
  EXPECT_EQ(start, 256U);
  EXPECT_FALSE(ring.place(100, 240, 104, start));  // 16 skipped + 104 > 116 free
  EXPECT_TRUE(ring.place(100, 240, 96, start));    // 16 skipped + 96 <= 116 free
  EXPECT_EQ(start, 256U);
  EXPECT_FALSE(ring.place(100, 200, 104, start));  // 56 to the end, 116 free
  EXPECT_FALSE(ring.place(0, cap, 8, start));      // full
  EXPECT_EQ(ring.lap_start_from(512), 512U);
  EXPECT_EQ(ring.lap_start_from(520), 768U);
}

TEST(ByteRingTest, BeginRecord_WritesTheWrapMarkerOnlyWhenItSkips) {
  std::vector<std::uint8_t> storage(cap, 0xEE);
  const byte_ring ring(storage.data(), cap);
  EXPECT_EQ(ring.begin_record(248, 248), storage.data() + 248);
  EXPECT_EQ(storage[248], 0xEE);
  EXPECT_EQ(ring.begin_record(248, 256), storage.data());
  EXPECT_EQ(ring.total_at(248), 0U);
  EXPECT_EQ(ring.locate(248), 256U);  // a marker: the record is at the next lap
  std::uint32_t total = 16;
  std::memcpy(storage.data() + 8, &total, sizeof total);
  EXPECT_EQ(ring.locate(264), 264U);  // a record: it is here
}

// Random appends and consumptions of random sizes over many laps: every record
// comes back where it was put, and the walk counts exactly what is held.
TEST(ByteRingTest, ManyLaps_RecordsComeBackInOrder_WalkCountsThemAll) {
  model_ring m;
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::uint32_t> size(1, 12);
  for (int step = 0; step < 20000; ++step) {
    if (rng() % 3 != 0) {
      const std::uint32_t total = size(rng) * 8;
      if (!m.push(total)) {
        ASSERT_FALSE(m.live.empty()) << "an empty ring refused " << total << " bytes";
      }
    } else if (!m.live.empty()) {
      m.pop();
    }
    const auto w = m.walk();
    ASSERT_TRUE(w.legal) << "step " << step;
    ASSERT_EQ(w.records, m.live.size()) << "step " << step;
  }
  EXPECT_GT(m.tail / cap, 100U);  // many laps, many wrap markers
}

TEST(ByteRingTest, Walk_RefusesIllegalFraming_CountsTheLegalPrefix) {
  model_ring m;
  ASSERT_TRUE(m.push(200));
  m.pop();
  // Records at 200, 216 and 232, a wrap marker at 248, the fourth at 256.
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(m.push(16));
  ASSERT_TRUE(m.walk().legal);
  ASSERT_EQ(m.walk().records, 4U);
  const auto walk_from = [&](std::uint64_t head, std::uint64_t tail) {
    return m.ring.walk(head, tail, 8, [](const std::uint8_t*, std::uint32_t) { return true; });
  };
  EXPECT_FALSE(walk_from(m.tail, m.head).legal);            // head after tail
  EXPECT_FALSE(walk_from(m.tail - cap - 8, m.tail).legal);  // more than the capacity
  EXPECT_FALSE(walk_from(m.head + 4, m.tail).legal);        // not 8-aligned
  const auto refused = m.ring.walk(m.head, m.tail, 8, [](const std::uint8_t* rec, std::uint32_t) {
    return rec[4] != 16;  // the caller's record check says no
  });
  EXPECT_FALSE(refused.legal);
  EXPECT_EQ(refused.records, 0U);
  // A damaged length (not 8-aligned) in the third record: the two before count.
  const std::uint32_t odd = 12;
  std::memcpy(m.ring.at(232), &odd, sizeof odd);
  const auto w = m.walk();
  EXPECT_FALSE(w.legal);
  EXPECT_EQ(w.records, 2U);
  const std::uint32_t bad = 0;
  // A marker at a lap's first byte is never written.
  model_ring z;
  ASSERT_TRUE(z.push(16));
  std::memcpy(z.ring.at(0), &bad, sizeof bad);
  EXPECT_FALSE(z.walk().legal);
  // A record running past the tail.
  model_ring t;
  ASSERT_TRUE(t.push(16));
  EXPECT_FALSE(t.ring.walk(0, 8, 8, [](const std::uint8_t*, std::uint32_t) { return true; }).legal);
}

}  // namespace
