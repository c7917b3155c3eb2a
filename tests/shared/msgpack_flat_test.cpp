// detail::msgpack (msgpack_flat.hpp): the in-place MessagePack reader and
// writer of the map fast path. What it writes nlohmann reads as the same
// value; what nlohmann writes it reads as nlohmann's get<T>() would, or
// refuses without consuming; it steps over any value and never reads past
// the end it was given.
#include <procpool/shared/detail/codec.hpp>
#include <procpool/shared/detail/msgpack_flat.hpp>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace {

namespace mp = procpool::detail::msgpack;
using json = nlohmann::json;
using bytes = std::vector<std::uint8_t>;

template <class T>
bytes written(const T& v) {
  bytes out;
  mp::write_flat(out, v);
  return out;
}

template <class T>
void expect_round_trip(const T& v) {
  const bytes b = written(v);
  EXPECT_EQ(procpool::detail::decode(b), json(v)) << "nlohmann reads what write_flat wrote: " << json(v).dump();
  mp::reader in(b);
  T back{};
  ASSERT_TRUE(mp::read_flat(in, back)) << json(v).dump();
  EXPECT_EQ(back, v);
  EXPECT_TRUE(in.at_end());
  // And nlohmann's own encoding reads the same.
  const bytes theirs = procpool::detail::encode(json(v));
  mp::reader in2(theirs);
  T back2{};
  ASSERT_TRUE(mp::read_flat(in2, back2)) << json(v).dump();
  EXPECT_EQ(back2, v);
}

TEST(MsgpackFlatTest, Integers_EveryEncodingBoundary_RoundTrip) {
  for (const std::int64_t v :
       {std::int64_t{0}, std::int64_t{1}, std::int64_t{127}, std::int64_t{128}, std::int64_t{255},
        std::int64_t{256}, std::int64_t{65535}, std::int64_t{65536}, std::int64_t{4294967295},
        std::int64_t{4294967296}, std::numeric_limits<std::int64_t>::max(), std::int64_t{-1}, std::int64_t{-32},
        std::int64_t{-33}, std::int64_t{-128}, std::int64_t{-129}, std::int64_t{-32768}, std::int64_t{-32769},
        std::int64_t{-2147483648LL}, std::int64_t{-2147483649LL}, std::numeric_limits<std::int64_t>::min()}) {
    expect_round_trip(v);
  }
  expect_round_trip(std::numeric_limits<std::uint64_t>::max());
  expect_round_trip(std::int8_t{-100});
  expect_round_trip(std::uint16_t{40000});
}

TEST(MsgpackFlatTest, FloatsBoolsStrings_RoundTrip) {
  expect_round_trip(0.0);
  expect_round_trip(-1.5);
  expect_round_trip(1e300);
  expect_round_trip(2.5F);
  expect_round_trip(true);
  expect_round_trip(false);
  expect_round_trip(std::string());
  expect_round_trip(std::string(31, 'a'));
  expect_round_trip(std::string(32, 'b'));
  expect_round_trip(std::string(255, 'c'));
  expect_round_trip(std::string(256, 'd'));
  expect_round_trip(std::string(70000, 'e'));
}

TEST(MsgpackFlatTest, IntegerThatDoesNotFit_RefusedWithoutConsuming) {
  const bytes big = written(std::int64_t{300});
  mp::reader in(big);
  std::int8_t small = 0;
  EXPECT_FALSE(mp::read_flat(in, small));
  EXPECT_EQ(in.pos(), big.data());
  const bytes negative = written(std::int64_t{-1});
  mp::reader in2(negative);
  unsigned u = 0;
  EXPECT_FALSE(mp::read_flat(in2, u));
  EXPECT_EQ(in2.pos(), negative.data());
  const bytes huge = written(std::numeric_limits<std::uint64_t>::max());
  mp::reader in3(huge);
  std::int64_t s = 0;
  EXPECT_FALSE(mp::read_flat(in3, s));
}

TEST(MsgpackFlatTest, OtherTypes_RefusedSoNlohmannDecides) {
  // An int parameter given 2.5, a bool given 1, a string given a number: the
  // reader leaves each to nlohmann (which converts the first, refuses the others).
  const bytes f = procpool::detail::encode(json(2.5));
  mp::reader in(f);
  int i = 0;
  EXPECT_FALSE(mp::read_flat(in, i));
  EXPECT_EQ(in.pos(), f.data());
  const bytes one = procpool::detail::encode(json(1));
  mp::reader in2(one);
  bool b = false;
  EXPECT_FALSE(mp::read_flat(in2, b));
  std::string s;
  mp::reader in3(one);
  EXPECT_FALSE(mp::read_flat(in3, s));
  // A number where a double is wanted reads as nlohmann's get<double>() does.
  mp::reader in4(one);
  double d = 0;
  ASSERT_TRUE(mp::read_flat(in4, d));
  EXPECT_EQ(d, 1.0);
}

TEST(MsgpackFlatTest, Skip_StepsOverAnyValueExactly) {
  const json v = json::array({1, -70000, 2.5, "text", std::string(300, 'x'), nullptr, true,
                              json::binary(bytes(70000, 7)), json::object({{"k", json::array({1, 2, 3})}}),
                              json::array({json::array({json::array()})})});
  const bytes b = procpool::detail::encode(v);
  mp::reader in(b);
  ASSERT_TRUE(in.skip());
  EXPECT_TRUE(in.at_end());
  // Element by element, too.
  mp::reader items(b);
  std::size_t n = 0;
  ASSERT_TRUE(items.array_header(n));
  ASSERT_EQ(n, v.size());
  for (std::size_t k = 0; k < n; ++k) ASSERT_TRUE(items.skip()) << "element " << k;
  EXPECT_TRUE(items.at_end());
}

TEST(MsgpackFlatTest, TruncatedOrInvalid_RefusedNeverOverrun) {
  const json v = json::array({1, "text", std::string(300, 'x'), json::object({{"k", 2.5}}), -70000});
  const bytes whole = procpool::detail::encode(v);
  for (std::size_t len = 0; len < whole.size(); ++len) {
    // A copy of exactly len bytes: ASan flags any read past it.
    const bytes prefix(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(len));
    mp::reader in(prefix.data(), prefix.data() + prefix.size());
    EXPECT_FALSE(in.skip()) << "prefix of " << len << " bytes";
    EXPECT_EQ(in.pos(), prefix.data());
  }
  const bytes never_used = {0xc1};
  mp::reader in(never_used);
  EXPECT_FALSE(in.skip());
  // An array header that claims more elements than there are bytes.
  const bytes lying = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01};
  mp::reader in2(lying);
  EXPECT_FALSE(in2.skip());
  std::string_view s;
  const bytes short_str = {0xa5, 'a', 'b'};
  mp::reader in3(short_str);
  EXPECT_FALSE(in3.string(s));
  EXPECT_EQ(in3.pos(), short_str.data());
}

}  // namespace
