// The map fast path: flat arguments and results (numbers, bool, std::string)
// are read and written as MessagePack without a JSON value, in the worker
// (task_entry::invoke_flat) and, for the typed map, on the caller. These cases
// check that it gives exactly what the JSON path gives: inputs the flat reader
// refuses go through nlohmann with the same conversion, edge values survive,
// failures and counts are as before. MapFastPathTest/0 is thread mode, /1
// process mode.
#include "test_util.hpp"

#include <procpool/procpool.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace procpool_test {
struct fast_path_thread {
  static constexpr procpool::mode value = procpool::mode::thread;
};
struct fast_path_process {
  static constexpr procpool::mode value = procpool::mode::process;
};
}  // namespace procpool_test

namespace {

using json = nlohmann::json;

int fp_square(int x) { return x * x; }
bool fp_not(bool b) { return !b; }
double fp_half(double d) { return d / 2; }
std::string fp_shout(const std::string& s) { return s + "!"; }
std::int64_t fp_id64(std::int64_t x) { return x; }
std::uint64_t fp_idu64(std::uint64_t x) { return x; }
std::vector<int> fp_upto(int n) { return std::vector<int>(static_cast<std::size_t>(n), n); }
int fp_attempt_plus(procpool::task_context& ctx, int x) { return 1000 * ctx.attempt() + x; }
int fp_fail_on_3(int x) {
  if (x == 3) throw std::invalid_argument("three");
  return x;
}

}  // namespace

PROCPOOL_TASK(fp_square, fp_square);
PROCPOOL_TASK(fp_not, fp_not);
PROCPOOL_TASK(fp_half, fp_half);
PROCPOOL_TASK(fp_shout, fp_shout);
PROCPOOL_TASK(fp_id64, fp_id64);
PROCPOOL_TASK(fp_idu64, fp_idu64);
PROCPOOL_TASK(fp_upto, fp_upto);
PROCPOOL_TASK(fp_attempt_plus, fp_attempt_plus);
PROCPOOL_TASK(fp_fail_on_3, fp_fail_on_3);

namespace {

template <class Mode>
class MapFastPathTest : public ::testing::Test {
 protected:
  static procpool::options opts(int workers) {
    procpool::options o;
    o.mode = Mode::value;
    o.workers = workers;
    return o;
  }
};

using fast_path_modes = ::testing::Types<procpool_test::fast_path_thread, procpool_test::fast_path_process>;
TYPED_TEST_SUITE(MapFastPathTest, fast_path_modes);

// 2.5 into an int parameter, 2^32 + 2 into an int: the flat reader refuses both,
// nlohmann converts them in the worker, exactly as for a single task.
TYPED_TEST(MapFastPathTest, JsonMap_InputsTheFlatReaderRefuses_ConvertAsApplyDoes) {
  procpool::pool pool(TestFixture::opts(2));
  const std::vector<json> inputs = {2.5, 3, -4, 4294967298LL, 7};
  const std::vector<json> values = pool.map("fp_square", inputs, 2);
  ASSERT_EQ(values.size(), inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_EQ(values[i], pool.apply("one" + std::to_string(i), "fp_square", inputs[i])) << "input " << i;
  }
  EXPECT_EQ(values[0], 4);
  pool.close();
  pool.join();
}

TYPED_TEST(MapFastPathTest, TypedMap_FlatTypes_EdgeValuesSurvive) {
  procpool::pool pool(TestFixture::opts(2));
  const std::vector<bool> flipped = pool.map(fp_not, std::vector<bool>{true, false, true});
  EXPECT_EQ(flipped, (std::vector<bool>{false, true, false}));
  EXPECT_EQ(pool.map(fp_half, std::vector<double>{1.0, -3.0, 1e300}), (std::vector<double>{0.5, -1.5, 1e300 / 2}));
  // An int input for a double parameter is converted on the caller's side.
  EXPECT_EQ(pool.map(fp_half, std::vector<int>{3}), std::vector<double>{1.5});
  const std::vector<std::string> words = {"", "a", std::string(300, 'x')};
  const std::vector<std::string> shouted = pool.map(fp_shout, words, 1);
  ASSERT_EQ(shouted.size(), 3U);
  EXPECT_EQ(shouted[0], "!");
  EXPECT_EQ(shouted[2], std::string(300, 'x') + "!");
  const std::vector<std::int64_t> ints = {std::numeric_limits<std::int64_t>::min(), -33, -1, 0, 127, 128,
                                          std::numeric_limits<std::int64_t>::max()};
  EXPECT_EQ(pool.map(fp_id64, ints, 3), ints);
  const std::vector<std::uint64_t> uints = {0, 255, 65536, std::numeric_limits<std::uint64_t>::max()};
  EXPECT_EQ(pool.map(fp_idu64, uints), uints);
  pool.close();
  pool.join();
}

TYPED_TEST(MapFastPathTest, TypedMap_NonFlatResultAndContext_AsTheJsonMap) {
  procpool::pool pool(TestFixture::opts(2));
  const std::vector<std::vector<int>> lists = pool.map(fp_upto, std::vector<int>{0, 2, 1});
  EXPECT_EQ(lists, (std::vector<std::vector<int>>{{}, {2, 2}, {1}}));
  EXPECT_EQ(pool.map("fp_upto", std::vector<json>{0, 2, 1}), (std::vector<json>{json::array(), {2, 2}, {1}}));
  // A task that takes task_context& runs on the fast path with its context.
  EXPECT_EQ(pool.map(fp_attempt_plus, std::vector<int>{1, 2}), (std::vector<int>{1001, 1002}));
  pool.close();
  pool.join();
}

TYPED_TEST(MapFastPathTest, FailingInput_FirstFailureThrown_CountsPerInput) {
  procpool::pool pool(TestFixture::opts(2));
  std::vector<int> xs(10);
  for (int i = 0; i < 10; ++i) xs[static_cast<std::size_t>(i)] = i;
  try {
    (void)pool.map(fp_fail_on_3, xs, 4);
    ADD_FAILURE() << "map over a failing input returned";
  } catch (const procpool::task_error& e) {
    EXPECT_EQ(e.tag(), "3");
    EXPECT_EQ(e.state(), procpool::task_state::failed);
    EXPECT_EQ(e.remote_type(), "std::invalid_argument");
    EXPECT_EQ(e.remote_message(), "three");
  }
  const procpool::pool_stats s = pool.stats();
  EXPECT_EQ(s.done, 9U);
  EXPECT_EQ(s.failed, 1U);
  pool.close();
  pool.join();
}

}  // namespace
