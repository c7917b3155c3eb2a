// The typed calls (<procpool/supervisor/typed.hpp>): pool.submit(tag, fn, args...),
// apply and map with a function registered by PROCPOOL_TASK or its name##_task
// token, over both backends: TypedApiTest/0 is thread mode, TypedApiTest/1
// process mode (tests/CMakeLists.txt labels the latter notsan, like the main
// suite). What must not compile is tested in tests/compile_fail/.
#include "test_util.hpp"

#include <procpool/procpool.hpp>

#include <nlohmann/json.hpp>

#include <numeric>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace procpool_test {
struct typed_api_thread {
  static constexpr procpool::mode value = procpool::mode::thread;
};
struct typed_api_process {
  static constexpr procpool::mode value = procpool::mode::process;
};
}  // namespace procpool_test

namespace {

using json = nlohmann::json;

// Functions registered under their own names: the pattern the typed calls are
// for (the macro cannot define a variable `tp_square`, so it defines
// tp_square_task, and the function itself is found by address).
int tp_square(int x) { return x * x; }
std::vector<int> tp_range(int n) {
  std::vector<int> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}
int tp_sum(const std::vector<int>& v) { return std::accumulate(v.begin(), v.end(), 0); }
json tp_echo(const json& j) { return j; }
void tp_nothing() {}
void tp_sink(int /*unused*/) {}
std::string tp_whoami(procpool::task_context& ctx, int x) {
  return std::string(ctx.task_name()) + "/" + std::string(ctx.tag()) + "/" + std::to_string(x);
}
int tp_fail_if_odd(int x) {
  if (x % 2 != 0) throw std::runtime_error("odd " + std::to_string(x));
  return x;
}
int tp_twice(int x) { return 2 * x; }
// Never registered.
int tp_unregistered(int x) { return x; }

}  // namespace

PROCPOOL_TASK(tp_square, tp_square);
PROCPOOL_TASK(tp_range, tp_range);
PROCPOOL_TASK(tp_sum, tp_sum);
PROCPOOL_TASK(tp_echo, tp_echo);
PROCPOOL_TASK(tp_nothing, tp_nothing);
PROCPOOL_TASK(tp_sink, tp_sink);
PROCPOOL_TASK(tp_whoami, tp_whoami);
PROCPOOL_TASK(tp_fail_if_odd, tp_fail_if_odd);
PROCPOOL_TASK(tp_add, [](int a, int b) { return a + b; });
PROCPOOL_TASK(tp_greet, [](const std::string& who) { return "hello " + who; });
// One function under two names: by address it is ambiguous, by token it is not.
PROCPOOL_TASK(tp_twice_a, tp_twice);
PROCPOOL_TASK(tp_twice_b, tp_twice);

namespace {

using procpool::errc;
using procpool::task_state;
using procpool_test::expect_errc;
using procpool_test::scaled;
using namespace std::chrono_literals;

// What the macro defines, as types: the signature without task_context.
static_assert(std::is_same_v<decltype(tp_add_task), const procpool::typed_task<int(int, int)>>);
static_assert(std::is_same_v<decltype(tp_whoami_task), const procpool::typed_task<std::string(int)>>);
static_assert(tp_square_task.name() == "tp_square");

// A token declared by hand, as another file would.
constexpr procpool::typed_task<int(int)> manual_square{"tp_square"};

template <class Mode>
class TypedApiTest : public ::testing::Test {
 protected:
  static procpool::options opts(int workers) {
    procpool::options o;
    o.mode = Mode::value;
    o.workers = workers;
    return o;
  }
};

using typed_api_modes = ::testing::Types<procpool_test::typed_api_thread, procpool_test::typed_api_process>;
TYPED_TEST_SUITE(TypedApiTest, typed_api_modes);

TYPED_TEST(TypedApiTest, Submit_Int_ByFunction) {
  procpool::pool pool(TestFixture::opts(2));
  procpool::typed_handle<int> h = pool.submit("t1", tp_square, 7);
  ASSERT_TRUE(h.wait_for(scaled(30s)));
  EXPECT_EQ(h.get(), 49);
  EXPECT_EQ(h.tag(), "t1");
  EXPECT_EQ(h.state(), task_state::done);
  EXPECT_EQ(h.untyped().get(), json(49));  // the untyped view of the same tag
  EXPECT_EQ(h.result().value, json(49));
  EXPECT_EQ(pool.result("t1").value, json(49));  // kept by tag, as submit(tag, name) does
  pool.close();
  pool.join();
}

TYPED_TEST(TypedApiTest, Submit_FunctionPointer_FindsTheRegisteredName) {
  procpool::pool pool(TestFixture::opts(2));
  int (*fn)(int) = &tp_square;
  EXPECT_EQ(pool.submit("p", fn, 5).get(), 25);
  // The worker sees the registered name, so the lookup went by address.
  EXPECT_EQ(pool.submit("w", tp_whoami, 3).get(), "tp_whoami/w/3");
  pool.close();
  pool.join();
}

TYPED_TEST(TypedApiTest, Submit_String_Vector_Json) {
  procpool::pool pool(TestFixture::opts(2));
  auto greet = pool.submit("g", tp_greet_task, "you");  // const char* as the std::string parameter
  static_assert(std::is_same_v<decltype(greet.get()), std::string>);
  EXPECT_EQ(greet.get(), "hello you");
  EXPECT_EQ(pool.submit("r", tp_range, 4).get(), (std::vector<int>{0, 1, 2, 3}));
  // One container parameter gets the container itself, never wrapped in a list.
  EXPECT_EQ(pool.submit("s", tp_sum, std::vector<int>{1, 2, 3}).get(), 6);
  EXPECT_EQ(pool.submit("s1", tp_sum, std::vector<int>{5}).get(), 5);
  EXPECT_EQ(pool.submit("e", tp_echo, json::array({1, 2})).get(), json::array({1, 2}));
  EXPECT_EQ(pool.submit("e0", tp_echo, json::array()).get(), json::array());
  pool.close();
  pool.join();
}

TYPED_TEST(TypedApiTest, Submit_Void_GetReturnsNothing) {
  procpool::pool pool(TestFixture::opts(1));
  auto h = pool.submit("v", tp_nothing);
  static_assert(std::is_same_v<decltype(h), procpool::typed_handle<void>>);
  static_assert(std::is_void_v<decltype(h.get())>);
  h.get();
  EXPECT_EQ(h.state(), task_state::done);
  EXPECT_TRUE(h.result().value.is_null());
  pool.apply("v2", tp_nothing_task);
  pool.close();
  pool.join();
}

TYPED_TEST(TypedApiTest, Submit_TaskContext_IsInjected) {
  procpool::pool pool(TestFixture::opts(1));
  EXPECT_EQ(pool.submit("ctx-tag", tp_whoami_task, 11).get(), "tp_whoami/ctx-tag/11");
  pool.close();
  pool.join();
}

TYPED_TEST(TypedApiTest, Submit_LambdaToken_AndManualToken) {
  procpool::pool pool(TestFixture::opts(2));
  EXPECT_EQ(pool.submit("a", tp_add_task, 2, 3).get(), 5);
  EXPECT_EQ(pool.submit("m", manual_square, 9).get(), 81);
  pool.close();
  pool.join();
}

TYPED_TEST(TypedApiTest, Submit_FailingTask_GetThrowsTaskError) {
  procpool::pool pool(TestFixture::opts(1));
  auto h = pool.submit("odd", tp_fail_if_odd, 3);
  try {
    (void)h.get();
    ADD_FAILURE() << "get() of a failed task returned";
  } catch (const procpool::task_error& e) {
    EXPECT_EQ(e.tag(), "odd");
    EXPECT_EQ(e.state(), task_state::failed);
    EXPECT_EQ(e.remote_message(), "odd 3");
  }
  EXPECT_EQ(h.result().state, task_state::failed);  // result() still never throws
  pool.close();
  pool.join();
}

TYPED_TEST(TypedApiTest, Apply_ReturnsTheTasksType) {
  procpool::pool pool(TestFixture::opts(2));
  const int v = pool.apply("t", tp_square, 12);
  EXPECT_EQ(v, 144);
  EXPECT_EQ(pool.apply("t", tp_add_task, 40, 2), 42);  // apply keeps nothing: the tag is free
  const std::vector<int> r = pool.apply("t", tp_range, 3);
  EXPECT_EQ(r, (std::vector<int>{0, 1, 2}));
  EXPECT_THROW((void)pool.apply("t", tp_fail_if_odd, 1), procpool::task_error);
  pool.close();
  pool.join();
}

TYPED_TEST(TypedApiTest, Map_KeepsInputOrder) {
  procpool::pool pool(TestFixture::opts(3));
  std::vector<int> xs(40);
  std::iota(xs.begin(), xs.end(), -5);
  const std::vector<int> out = pool.map(tp_square, xs);
  ASSERT_EQ(out.size(), xs.size());
  for (std::size_t i = 0; i < xs.size(); ++i) EXPECT_EQ(out[i], xs[i] * xs[i]) << "input " << i;
  EXPECT_EQ(pool.map(tp_square_task, xs, 7), out);  // chunked: the same values, the same order
  EXPECT_TRUE(pool.map(tp_square, std::vector<int>{}).empty());
  const std::vector<std::string> greetings = pool.map(tp_greet_task, std::vector<std::string>{"a", "b"});
  EXPECT_EQ(greetings, (std::vector<std::string>{"hello a", "hello b"}));
  const std::vector<int> sums = pool.map(tp_sum, std::vector<std::vector<int>>{{1, 2}, {}, {7}});
  EXPECT_EQ(sums, (std::vector<int>{3, 0, 7}));
  pool.close();
  pool.join();
}

TYPED_TEST(TypedApiTest, Map_FailingInput_ThrowsTheFirstInInputOrder) {
  procpool::pool pool(TestFixture::opts(2));
  try {
    (void)pool.map(tp_fail_if_odd, std::vector<int>{2, 4, 5, 6, 7}, 2);
    ADD_FAILURE() << "map over a failing input returned";
  } catch (const procpool::task_error& e) {
    // As the JSON map: the tag is the input's position.
    EXPECT_EQ(e.tag(), "2");
    EXPECT_EQ(e.state(), task_state::failed);
    EXPECT_EQ(e.remote_message(), "odd 5");
  }
  pool.map(tp_sink_task, std::vector<int>{1, 2, 3});  // a void task's map returns nothing
  EXPECT_EQ(pool.map(tp_square, std::vector<int>{3}), (std::vector<int>{9}));  // still serving
  pool.close();
  pool.join();
}

TYPED_TEST(TypedApiTest, UnregisteredFunction_Refused) {
  procpool::pool pool(TestFixture::opts(1));
  const std::string why = expect_errc([&] { (void)pool.submit("u", tp_unregistered, 1); }, errc::unknown_task);
  EXPECT_NE(why.find("pool::submit"), std::string::npos) << why;
  EXPECT_NE(why.find("not registered with PROCPOOL_TASK"), std::string::npos) << why;
  expect_errc([&] { (void)pool.apply("u", tp_unregistered, 1); }, errc::unknown_task);
  expect_errc([&] { (void)pool.map(tp_unregistered, std::vector<int>{1}); }, errc::unknown_task);
  // Nothing became a tag.
  expect_errc([&] { (void)pool.result("u"); }, errc::unknown_tag);
  pool.close();
  pool.join();
}

TYPED_TEST(TypedApiTest, FunctionUnderTwoNames_AmbiguousByAddress_FineByToken) {
  procpool::pool pool(TestFixture::opts(1));
  const std::string why = expect_errc([&] { (void)pool.submit("x", tp_twice, 1); }, errc::invalid_argument);
  EXPECT_NE(why.find("tp_twice_a"), std::string::npos) << why;
  EXPECT_NE(why.find("tp_twice_b"), std::string::npos) << why;
  EXPECT_EQ(pool.apply("a", tp_twice_a_task, 4), 8);
  EXPECT_EQ(pool.apply("b", tp_twice_b_task, 5), 10);
  pool.close();
  pool.join();
}

TYPED_TEST(TypedApiTest, Refusals_AsTheJsonCalls) {
  procpool::pool pool(TestFixture::opts(1));
  (void)pool.submit("dup", tp_square, 1).get();
  expect_errc([&] { (void)pool.submit("dup", tp_square, 2); }, errc::duplicate_tag);
  expect_errc([&] { (void)pool.submit("", tp_square, 2); }, errc::invalid_argument);
  // A hand-made token with a name nobody registered.
  constexpr procpool::typed_task<int(int)> nobody{"tp_nobody"};
  expect_errc([&] { (void)pool.submit("n", nobody, 2); }, errc::unknown_task);
  pool.close();
  expect_errc([&] { (void)pool.submit("late", tp_square, 2); }, errc::closed);
  pool.join();
}

}  // namespace
