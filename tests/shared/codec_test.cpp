// detail::encode_into and detail::scratch_bytes: the buffers the hot path
// encodes payloads into keep their storage from one task to the next, and keep
// no more than their cap.
#include <procpool/shared/detail/codec.hpp>
#include <procpool/shared/error.hpp>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace {

using procpool::detail::scratch_bytes;
using json = nlohmann::json;

constexpr std::size_t payload = 64 * 1024;

json binary_payload(std::size_t n, std::uint8_t fill) {
  return json::binary(std::vector<std::uint8_t>(n, fill));
}

TEST(CodecTest, EncodeInto_AppendsTheSameBytesAsEncode) {
  const json v = json::array({binary_payload(payload, 7), "text", 42});
  std::vector<std::uint8_t> out = {0xAA};
  procpool::detail::encode_into(v, out);
  const std::vector<std::uint8_t> whole = procpool::detail::encode(v);
  ASSERT_EQ(out.size(), whole.size() + 1);
  EXPECT_EQ(out[0], 0xAA);
  EXPECT_TRUE(std::equal(whole.begin(), whole.end(), out.begin() + 1));
  EXPECT_EQ(procpool::detail::decode(whole), v);
}

TEST(CodecTest, EncodeInto_EnoughCapacity_KeepsTheStorage) {
  std::vector<std::uint8_t> out;
  out.reserve(2 * payload);
  const std::uint8_t* storage = out.data();
  procpool::detail::encode_into(json::array({binary_payload(payload, 1)}), out);
  EXPECT_EQ(out.data(), storage) << "encoding into a large enough buffer must not reallocate";
}

TEST(ScratchBytesTest, Take_ReturnsTheStorageGivenBack_Empty) {
  scratch_bytes s;
  std::vector<std::uint8_t> v = s.take();
  EXPECT_TRUE(v.empty());
  procpool::detail::encode_into(json::array({binary_payload(payload, 3)}), v);
  const std::uint8_t* storage = v.data();
  const std::size_t cap = v.capacity();
  s.give_back(std::move(v));
  EXPECT_EQ(s.kept_capacity(), cap);
  for (int task = 0; task < 3; ++task) {
    std::vector<std::uint8_t> again = s.take();
    EXPECT_TRUE(again.empty());
    EXPECT_EQ(again.data(), storage) << "task " << task;
    procpool::detail::encode_into(json::array({binary_payload(payload, 4)}), again);
    EXPECT_EQ(again.data(), storage) << "task " << task << ": the kept capacity is enough";
    s.give_back(std::move(again));
  }
  EXPECT_EQ(s.take().capacity(), cap);
  EXPECT_EQ(s.kept_capacity(), 0U) << "taken: nothing is kept until given back";
}

TEST(ScratchBytesTest, GiveBack_OverTheCap_FreedNotKept) {
  scratch_bytes s(1U << 20U);
  std::vector<std::uint8_t> small = s.take();
  small.reserve(payload);
  s.give_back(std::move(small));
  std::vector<std::uint8_t> big = s.take();
  big.resize(16U << 20U);  // once held a 16 MiB payload
  s.give_back(std::move(big));
  EXPECT_LE(s.kept_capacity(), s.max_kept());
  EXPECT_EQ(s.kept_capacity(), 0U) << "the small buffer was taken; the big one must not replace it";
  std::vector<std::uint8_t> at_cap;
  at_cap.reserve(s.max_kept());
  s.give_back(std::move(at_cap));
  EXPECT_EQ(s.kept_capacity(), s.max_kept()) << "a buffer at the cap is kept";
}

TEST(ScratchBytesTest, GiveBack_Smaller_KeepsTheLarger) {
  scratch_bytes s;
  std::vector<std::uint8_t> a;
  a.reserve(payload);
  s.give_back(std::move(a));
  std::vector<std::uint8_t> b;
  b.reserve(16);
  s.give_back(std::move(b));
  EXPECT_EQ(s.kept_capacity(), payload);
}

TEST(ScratchBytesTest, ThreadScratch_IsPerThreadAndCapped) {
  scratch_bytes& mine = procpool::detail::thread_scratch();
  EXPECT_EQ(&mine, &procpool::detail::thread_scratch());
  EXPECT_EQ(mine.max_kept(), scratch_bytes::default_max_kept);
  EXPECT_EQ(scratch_bytes::default_max_kept, std::size_t{1} << 20U);
}

}  // namespace

namespace {

using procpool::detail::decode;
using procpool::detail::encode;

/// A value with every kind JSON has, nested.
json every_kind() {
  return json{{"null", nullptr},
              {"bools", {true, false}},
              {"ints", {0, 1, 127, 128, -1, -32, -33, -129, -40000, 70000, -3000000000LL, 5000000000LL,
                        std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::uint64_t>::max()}},
              {"floats", {0.5, -1.25, 1e300, 3.0}},
              {"strings", {"", "a", std::string(31, 's'), std::string(32, 's'), std::string(70000, 'L')}},
              {"binary", json::binary(std::vector<std::uint8_t>(300, 9))},
              {"empty", {{"a", json::array()}, {"o", json::object()}}},
              {"deep", {{{{{1}}}}}}};
}

TEST(CodecTest, EveryKind_RoundTripsAndReadsAsNlohmannReadsIt) {
  const json v = every_kind();
  EXPECT_EQ(decode(encode(v)), v);
  // The number types come back as nlohmann's own decoder gives them.
  const std::vector<std::uint8_t> ours = encode(v);
  const json theirs = json::from_msgpack(ours);
  EXPECT_EQ(decode(ours), theirs);
  EXPECT_EQ(decode(ours)["ints"][0].type(), theirs["ints"][0].type());
  EXPECT_EQ(decode(ours)["ints"][4].type(), theirs["ints"][4].type());
  // And nlohmann's bytes (float32 where exact, its own choices) read the same.
  EXPECT_EQ(decode(json::to_msgpack(v)), v);
}

TEST(CodecTest, WhatTheWalkDoesNotTake_NlohmannDecides) {
  // A binary with a subtype travels as a MessagePack ext type.
  const json ext = json::binary(std::vector<std::uint8_t>{1, 2, 3}, 7);
  EXPECT_EQ(decode(encode(ext)), ext);
  EXPECT_EQ(encode(ext), json::to_msgpack(ext));
  // Bytes that are not MessagePack, truncated ones, and trailing bytes: payload_invalid.
  const std::vector<std::vector<std::uint8_t>> bad = {{}, {0xc1}, {0x92, 0x01}, {0xa5, 'a'}, {0x01, 0x02}};
  for (const std::vector<std::uint8_t>& b : bad) {
    try {
      (void)decode(b);
      ADD_FAILURE() << "decoded " << b.size() << " bad bytes";
    } catch (const procpool::error& e) {
      EXPECT_EQ(e.code_value(), procpool::errc::payload_invalid);
    }
  }
  // A map whose key is not a string is refused as nlohmann refuses it.
  EXPECT_THROW((void)decode(std::vector<std::uint8_t>{0x81, 0x01, 0x02}), procpool::error);
}

}  // namespace
