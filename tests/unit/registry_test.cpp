// Unit tests of the pieces under the pool: the task registry (PROCPOOL_TASK,
// arity and context detection, argument checking), task_state names, the error
// vocabulary, result's JSON form, and the empty task_handle.
#include "test_util.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using json = nlohmann::json;
using procpool::errc;
using procpool::task_state;
using procpool_test::expect_errc;

struct point {
  int x = 0;
  int y = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(point, x, y)

int reg_plain(int x) { return 2 * x; }

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

const procpool::detail::task_entry& entry(std::string_view name) {
  const procpool::detail::task_entry* e = procpool::detail::find_task(name);
  if (e == nullptr) throw std::logic_error("task not registered: " + std::string(name));
  return *e;
}

json call(std::string_view name, const json& positional, int attempt = 1,
          const std::atomic<std::uint32_t>* stop = nullptr) {
  procpool::task_context ctx("tag-1", name, attempt, 0, stop);
  return entry(name).invoke(ctx, positional);
}

}  // namespace

// Registrations at namespace scope, as users write them.
PROCPOOL_TASK(reg_one, [](int x) { return x + 1; });
PROCPOOL_TASK(reg_two, [](int a, const std::string& b) { return b + std::to_string(a); });
PROCPOOL_TASK(reg_three, [](int a, int b, int c) noexcept { return a * b * c; });
PROCPOOL_TASK(reg_ctx_only, [](procpool::task_context& ctx) { return std::string(ctx.tag()); });
PROCPOOL_TASK(reg_const_ctx, [](const procpool::task_context& ctx, int a) {
  return std::string(ctx.task_name()) + ":" + std::to_string(a);
});
PROCPOOL_TASK(reg_ctx_two, [](procpool::task_context& ctx, int a, int b) {
  return json{{"sum", a + b},
              {"attempt", ctx.attempt()},
              {"task", std::string(ctx.task_name())},
              {"tag", std::string(ctx.tag())},
              {"worker", ctx.worker_index()}};
});
PROCPOOL_TASK(reg_void, [](int /*x*/) {});
PROCPOOL_TASK(reg_fnptr, reg_plain);
PROCPOOL_TASK(reg_point, [](const point& p) { return point{p.y, p.x}; });
PROCPOOL_TASK(reg_vector, [](std::vector<int> v) {
  int sum = 0;
  for (int x : v) sum += x;
  return sum;
});
PROCPOOL_TASK(reg_json, [](const json& j) { return j; });
PROCPOOL_TASK(reg_throws, [](const std::string& msg) -> int { throw std::runtime_error(msg); });
PROCPOOL_TASK(reg_stop, [](procpool::task_context& ctx) { return ctx.stop_requested(); });
PROCPOOL_TASK(reg_zero, []() { return 7; });
PROCPOOL_TASK(reg_map, [](const std::map<std::string, std::vector<int>>& m) { return m.size(); });
PROCPOOL_TASK(reg_bytes, [](const json::binary_t& b) { return b.size(); });

namespace {

// ---------------------------------------------------------------------------
// The registry

TEST(TaskRegistryTest, Arity_DetectedFromParameters) {
  EXPECT_EQ(entry("reg_one").arity, 1U);
  EXPECT_EQ(entry("reg_two").arity, 2U);
  EXPECT_EQ(entry("reg_three").arity, 3U);
  EXPECT_EQ(entry("reg_void").arity, 1U);
  EXPECT_EQ(entry("reg_fnptr").arity, 1U);
  EXPECT_EQ(entry("reg_point").arity, 1U);
  EXPECT_EQ(entry("reg_vector").arity, 1U);
  EXPECT_EQ(entry("reg_json").arity, 1U);
  EXPECT_EQ(entry("reg_zero").arity, 0U);
}

TEST(TaskRegistryTest, Arity_ContextParameterNotCounted) {
  EXPECT_EQ(entry("reg_ctx_only").arity, 0U);
  EXPECT_EQ(entry("reg_const_ctx").arity, 1U);
  EXPECT_EQ(entry("reg_ctx_two").arity, 2U);
  EXPECT_EQ(entry("reg_stop").arity, 0U);
}

TEST(TaskRegistryTest, FindTask_KnownName_ReturnsEntryWithThatName) {
  const procpool::detail::task_entry* e = procpool::detail::find_task("reg_two");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->name, "reg_two");
  EXPECT_TRUE(static_cast<bool>(e->invoke));
  EXPECT_TRUE(static_cast<bool>(e->check));
}

TEST(TaskRegistryTest, FindTask_UnknownName_ReturnsNull) {
  EXPECT_EQ(procpool::detail::find_task("no_such_task"), nullptr);
  EXPECT_EQ(procpool::detail::find_task(""), nullptr);
  EXPECT_EQ(procpool::detail::find_task("reg_one "), nullptr);
  EXPECT_EQ(procpool::detail::find_task("REG_ONE"), nullptr);
}

TEST(TaskRegistryTest, TaskNames_SortedAndContainEveryRegistration) {
  const std::vector<std::string> names = procpool::detail::task_names();
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end()) << "duplicate names";
  for (const char* n : {"reg_one", "reg_two", "reg_three", "reg_ctx_only", "reg_const_ctx",
                        "reg_ctx_two", "reg_void", "reg_fnptr", "reg_point", "reg_vector",
                        "reg_json", "reg_throws", "reg_stop", "reg_zero"}) {
    EXPECT_TRUE(std::binary_search(names.begin(), names.end(), std::string(n))) << n;
  }
}

TEST(TaskRegistryTest, Invoke_ConvertsArgumentsAndResult) {
  EXPECT_EQ(call("reg_one", json::array({41})), 42);
  EXPECT_EQ(call("reg_two", json::array({3, "x"})), "x3");
  EXPECT_EQ(call("reg_three", json::array({2, 3, 4})), 24);
  EXPECT_EQ(call("reg_fnptr", json::array({21})), 42);
  EXPECT_EQ(call("reg_vector", json::array({json::array({1, 2, 3})})), 6);
  EXPECT_EQ(call("reg_point", json::array({json{{"x", 1}, {"y", 2}}})),
            (json{{"x", 2}, {"y", 1}}));
  const json anything = {{"a", json::array({1, nullptr, "s"})}};
  EXPECT_EQ(call("reg_json", json::array({anything})), anything);
  EXPECT_EQ(call("reg_void", json::array({5})), nullptr) << "a void task returns null";
  EXPECT_EQ(call("reg_zero", json::array()), 7);
}

TEST(TaskRegistryTest, Invoke_PassesContext) {
  const json out = call("reg_ctx_two", json::array({2, 3}), /*attempt=*/2);
  EXPECT_EQ(out.at("sum"), 5);
  EXPECT_EQ(out.at("attempt"), 2);
  EXPECT_EQ(out.at("task"), "reg_ctx_two");
  EXPECT_EQ(out.at("tag"), "tag-1");
  EXPECT_EQ(out.at("worker"), 0);
  EXPECT_EQ(call("reg_ctx_only", json::array()), "tag-1");
  EXPECT_EQ(call("reg_const_ctx", json::array({9})), "reg_const_ctx:9");
}

TEST(TaskRegistryTest, Context_StopRequested_FollowsFlag) {
  EXPECT_EQ(call("reg_stop", json::array()), false) << "no flag: never stopped";
  std::atomic<std::uint32_t> flag{0};
  EXPECT_EQ(call("reg_stop", json::array(), 1, &flag), false);
  flag.store(1);
  EXPECT_EQ(call("reg_stop", json::array(), 1, &flag), true);

  const procpool::task_context ctx("t", "n", 3, 4, &flag);
  EXPECT_EQ(ctx.tag(), "t");
  EXPECT_EQ(ctx.task_name(), "n");
  EXPECT_EQ(ctx.attempt(), 3);
  EXPECT_EQ(ctx.worker_index(), 4);
  EXPECT_TRUE(ctx.stop_requested());
}

TEST(TaskRegistryTest, Invoke_TaskThrows_ExceptionPropagates) {
  try {
    (void)call("reg_throws", json::array({"reg boom"}));
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "reg boom");
  }
}

TEST(TaskRegistryTest, Invoke_BadArguments_ThrowsBadArguments) {
  procpool::task_context ctx("t", "reg_two", 1, 0, nullptr);
  expect_errc([&] { (void)entry("reg_two").invoke(ctx, json::array({1})); }, errc::bad_arguments);
  expect_errc([&] { (void)entry("reg_two").invoke(ctx, json::array({"1", "x"})); },
              errc::bad_arguments);
}

TEST(TaskRegistryTest, Check_GoodArguments_DoesNotThrow) {
  EXPECT_NO_THROW(entry("reg_one").check(json::array({1})));
  EXPECT_NO_THROW(entry("reg_two").check(json::array({1, "a"})));
  EXPECT_NO_THROW(entry("reg_ctx_only").check(json::array()));
  EXPECT_NO_THROW(entry("reg_point").check(json::array({json{{"x", 1}, {"y", 2}}})));
  EXPECT_NO_THROW(entry("reg_json").check(json::array({nullptr})));
}

TEST(TaskRegistryTest, Check_BadArguments_MessageNamesTaskAndArgument) {
  std::string what =
      expect_errc([] { entry("reg_one").check(json::array({"x"})); }, errc::bad_arguments);
  EXPECT_TRUE(contains(what, "reg_one")) << what;
  EXPECT_TRUE(contains(what, "argument 1")) << what;

  what = expect_errc([] { entry("reg_two").check(json::array({1, 2})); }, errc::bad_arguments);
  EXPECT_TRUE(contains(what, "reg_two")) << what;
  EXPECT_TRUE(contains(what, "argument 2")) << what;

  what = expect_errc([] { entry("reg_point").check(json::array({json{{"x", 1}}})); },
                     errc::bad_arguments);
  EXPECT_TRUE(contains(what, "reg_point")) << what;
}

TEST(TaskRegistryTest, Check_WrongArity_MessageGivesCounts) {
  std::string what =
      expect_errc([] { entry("reg_two").check(json::array({1})); }, errc::bad_arguments);
  EXPECT_TRUE(contains(what, "reg_two")) << what;
  EXPECT_TRUE(contains(what, "takes 2")) << what;
  EXPECT_TRUE(contains(what, "got 1")) << what;

  what = expect_errc([] { entry("reg_one").check(json::array()); }, errc::bad_arguments);
  EXPECT_TRUE(contains(what, "got 0")) << what;

  // Not an array at all.
  expect_errc([] { entry("reg_two").check(json(5)); }, errc::bad_arguments);
  expect_errc([] { entry("reg_ctx_only").check(json::array({1})); }, errc::bad_arguments);
}

TEST(TaskRegistryTest, Check_StringAndBinary_RefusedAsConversionRefuses) {
  // check() looks at the type of a string or binary argument instead of
  // converting it; its refusals must stay those of the conversion.
  EXPECT_NO_THROW(entry("reg_two").check(json::array({1, std::string(100000, 'a')})));
  EXPECT_NO_THROW(entry("reg_bytes").check(json::array({json::binary({1, 2, 3})})));
  procpool::task_context ctx("tag-1", "reg_bytes", 1, 0, nullptr);
  for (const json& bad : {json("text"), json(5), json::array({1, 2})}) {
    const std::string checked =
        expect_errc([&] { entry("reg_bytes").check(json::array({bad})); }, errc::bad_arguments);
    const std::string converted =
        expect_errc([&] { (void)entry("reg_bytes").invoke(ctx, json::array({bad})); }, errc::bad_arguments);
    EXPECT_EQ(checked, converted) << bad;
  }
  const std::string checked =
      expect_errc([] { entry("reg_two").check(json::array({1, json::binary({1})})); }, errc::bad_arguments);
  EXPECT_TRUE(contains(checked, "argument 2")) << checked;
}

TEST(TaskRegistryTest, ParamTypes_ReadableNames) {
  EXPECT_EQ(entry("reg_two").param_types, (std::vector<std::string>{"int", "std::string"}));
  EXPECT_EQ(entry("reg_vector").param_types, (std::vector<std::string>{"std::vector<int>"}));
  EXPECT_EQ(entry("reg_json").param_types, (std::vector<std::string>{"nlohmann::json"}));
  EXPECT_EQ(entry("reg_map").param_types,
            (std::vector<std::string>{"std::map<std::string, std::vector<int>>"}));
  EXPECT_EQ(entry("reg_ctx_two").param_types, (std::vector<std::string>{"int", "int"}))
      << "the task_context is not a parameter";
  EXPECT_TRUE(entry("reg_zero").param_types.empty());
}

TEST(TaskRegistryTest, CheckedPositional_OneParameter_ValueOrOneElementArray) {
  using procpool::detail::checked_positional;
  const json v = json::array({1, 2, 3});
  EXPECT_EQ(checked_positional(entry("reg_vector"), v), json::array({v}));
  EXPECT_EQ(checked_positional(entry("reg_vector"), json::array({v})), json::array({v}));
  EXPECT_EQ(checked_positional(entry("reg_one"), 5), json::array({5}));
  EXPECT_EQ(checked_positional(entry("reg_one"), json::array({5})), json::array({5}));
  EXPECT_EQ(checked_positional(entry("reg_json"), json::array({5})), json::array({json::array({5})}))
      << "as is takes precedence";
  const std::string what =
      expect_errc([] { (void)checked_positional(entry("reg_vector"), "x"); }, errc::bad_arguments);
  EXPECT_TRUE(contains(what, "task 'reg_vector' takes one argument of type std::vector<int>: pass it as is "
                             "or as a one-element array"))
      << what;
  expect_errc([] { (void)checked_positional(entry("reg_one"), json::array({1, 2})); }, errc::bad_arguments);
  expect_errc([] { (void)checked_positional(entry("reg_one"), nullptr); }, errc::bad_arguments);
}

TEST(TaskRegistryTest, CheckedPositional_Rvalue_SameArrayAsACopy) {
  using procpool::detail::checked_positional;
  const json v = json::array({1, 2, 3});
  for (const char* task : {"reg_vector", "reg_json", "reg_one", "reg_two", "reg_zero"}) {
    for (const json& args : {v, json::array({v}), json(5), json::array({5}), json::array({1, "a"}), json()}) {
      json copied;
      json moved;
      std::string copy_error;
      std::string move_error;
      try {
        copied = checked_positional(entry(task), args);
      } catch (const procpool::error& e) {
        copy_error = e.what();
      }
      try {
        moved = checked_positional(entry(task), json(args));
      } catch (const procpool::error& e) {
        move_error = e.what();
      }
      EXPECT_EQ(moved, copied) << task << " " << args;
      EXPECT_EQ(move_error, copy_error) << task << " " << args;
    }
  }
}

TEST(TaskRegistryTest, CheckedPositional_OtherArities_NeedAnArray) {
  using procpool::detail::checked_positional;
  EXPECT_EQ(checked_positional(entry("reg_two"), json::array({1, "a"})), json::array({1, "a"}));
  EXPECT_EQ(checked_positional(entry("reg_zero"), nullptr), json::array());
  EXPECT_EQ(checked_positional(entry("reg_zero"), json::array()), json::array());
  std::string what = expect_errc([] { (void)checked_positional(entry("reg_two"), 5); }, errc::bad_arguments);
  EXPECT_TRUE(contains(what, "takes 2 arguments (int, std::string): pass them as a JSON array")) << what;
  what = expect_errc([] { (void)checked_positional(entry("reg_zero"), 5); }, errc::bad_arguments);
  EXPECT_TRUE(contains(what, "takes no arguments")) << what;
  what = expect_errc([] { (void)checked_positional(entry("reg_two"), json::array({1})); }, errc::bad_arguments);
  EXPECT_TRUE(contains(what, "takes 2 arguments (int, std::string), got 1")) << what;
}

TEST(TaskRegistryTest, RegisterTask_DuplicateOrEmptyName_ThrowsInvalidArgument) {
  expect_errc(
      [] {
        procpool::detail::register_task(
            procpool::detail::make_task_entry("reg_one", [](int x) { return -x; }));
      },
      errc::invalid_argument);
  expect_errc(
      [] {
        procpool::detail::register_task(
            procpool::detail::make_task_entry("", [](int x) { return -x; }));
      },
      errc::invalid_argument);
  // The original registration is untouched.
  EXPECT_EQ(call("reg_one", json::array({1})), 2);
}

// ---------------------------------------------------------------------------
// task_state

TEST(TaskStateTest, ToString_GivesExactlyTheLowerCaseNames) {
  const std::vector<std::pair<task_state, std::string_view>> expected = {
      {task_state::queued, "queued"},       {task_state::running, "running"},
      {task_state::done, "done"},           {task_state::failed, "failed"},
      {task_state::timed_out, "timed_out"}, {task_state::crashed, "crashed"},
      {task_state::cancelled, "cancelled"}};
  for (const auto& [state, name] : expected) {
    EXPECT_EQ(procpool::to_string(state), name);
    const std::optional<task_state> back = procpool::task_state_from_string(name);
    ASSERT_TRUE(back.has_value()) << name;
    EXPECT_EQ(*back, state) << name;
  }
}

TEST(TaskStateTest, FromString_OtherText_ReturnsNullopt) {
  for (const char* text : {"", "Done", "DONE", "timed-out", "done ", " done", "cancelled\n",
                           "canceled", "unknown", "2"}) {
    EXPECT_FALSE(procpool::task_state_from_string(text).has_value()) << '"' << text << '"';
  }
}

TEST(TaskStateTest, IsTerminal_OnlyForFinalStates) {
  EXPECT_FALSE(procpool::is_terminal(task_state::queued));
  EXPECT_FALSE(procpool::is_terminal(task_state::running));
  for (task_state s : {task_state::done, task_state::failed, task_state::timed_out,
                       task_state::crashed, task_state::cancelled}) {
    EXPECT_TRUE(procpool::is_terminal(s)) << procpool::to_string(s);
  }
}

// ---------------------------------------------------------------------------
// Errors

constexpr errc all_errcs[] = {
    errc::closed,          errc::duplicate_tag, errc::unknown_task, errc::too_large,
    errc::full,            errc::timeout,       errc::invalid_argument,
    errc::bad_arguments,   errc::not_closed,    errc::unknown_tag,  errc::task_failed,
    errc::worker_crashed,  errc::task_timeout,  errc::cancelled,    errc::spawn_failed,
    errc::segment_poisoned, errc::payload_invalid, errc::system};

TEST(ErrorTest, Category_EveryCodeHasADistinctMessage) {
  const std::error_category& cat = procpool::category();
  EXPECT_NE(std::string_view(cat.name()), "");
  std::set<std::string> messages;
  for (errc e : all_errcs) {
    const std::string m = procpool::make_error_code(e).message();
    EXPECT_FALSE(m.empty()) << "errc " << static_cast<int>(e);
    messages.insert(m);
  }
  EXPECT_EQ(messages.size(), std::size(all_errcs)) << "two codes share a message";
  EXPECT_FALSE(cat.message(9999).empty()) << "an unknown value still gets a message";
}

TEST(ErrorTest, ErrcEnum_ConvertsToErrorCode) {
  const std::error_code ec = errc::full;
  EXPECT_EQ(ec, errc::full);
  EXPECT_NE(ec, errc::closed);
  EXPECT_EQ(&ec.category(), &procpool::category());
  EXPECT_EQ(ec.value(), static_cast<int>(errc::full));
  EXPECT_TRUE(static_cast<bool>(ec));
}

TEST(ErrorTest, Error_CarriesCodeAndWhere) {
  const procpool::error e(errc::duplicate_tag, "pool::submit: duplicate tag 'a1'");
  EXPECT_EQ(e.code_value(), errc::duplicate_tag);
  EXPECT_EQ(e.code(), errc::duplicate_tag);
  EXPECT_TRUE(contains(e.what(), "pool::submit")) << e.what();
  EXPECT_TRUE(contains(e.what(), "a1")) << e.what();
  const std::system_error& base = e;
  EXPECT_EQ(base.code().category(), procpool::category());
}

TEST(ErrorTest, TaskError_CarriesRemoteDetails) {
  const procpool::task_error e("t1", task_state::failed, "std::runtime_error", "boom", 1234);
  EXPECT_EQ(e.tag(), "t1");
  EXPECT_EQ(e.state(), task_state::failed);
  EXPECT_EQ(e.remote_type(), "std::runtime_error");
  EXPECT_EQ(e.remote_message(), "boom");
  EXPECT_EQ(e.worker_pid(), 1234);
  EXPECT_EQ(e.code_value(), errc::task_failed);
  EXPECT_TRUE(contains(e.what(), "t1")) << e.what();
  const procpool::error& base = e;
  EXPECT_EQ(base.code_value(), errc::task_failed);

  const procpool::task_error c("t2", task_state::crashed, "", "killed by signal 9", 99);
  EXPECT_EQ(c.code_value(), errc::worker_crashed);
}

TEST(ErrorTest, ErrcFor_MapsTerminalStates) {
  EXPECT_EQ(procpool::errc_for(task_state::failed), errc::task_failed);
  EXPECT_EQ(procpool::errc_for(task_state::crashed), errc::worker_crashed);
  EXPECT_EQ(procpool::errc_for(task_state::timed_out), errc::task_timeout);
  EXPECT_EQ(procpool::errc_for(task_state::cancelled), errc::cancelled);
}

// ---------------------------------------------------------------------------
// result and task_handle

TEST(ResultTest, ToJson_UsesTagStateNameAndValue) {
  procpool::result r;
  r.tag = "img-1";
  r.state = task_state::done;
  r.value = 49;
  r.attempts = 1;
  EXPECT_TRUE(r.ok());
  const json j = r;
  EXPECT_EQ(j.at("tag"), "img-1");
  EXPECT_EQ(j.at("state"), "done");
  EXPECT_EQ(j.at("value"), 49);

  procpool::result f;
  f.tag = "t";
  f.state = task_state::timed_out;
  EXPECT_FALSE(f.ok());
  EXPECT_EQ(json(f).at("state"), "timed_out");
}

TEST(TaskHandleTest, Empty_EveryMemberButValidThrowsInvalidArgument) {
  const procpool::task_handle h;
  EXPECT_FALSE(h.valid());
  expect_errc([&] { (void)h.tag(); }, errc::invalid_argument);
  expect_errc([&] { (void)h.state(); }, errc::invalid_argument);
  expect_errc([&] { (void)h.ready(); }, errc::invalid_argument);
  expect_errc([&] { h.wait(); }, errc::invalid_argument);
  expect_errc([&] { (void)h.wait_for(std::chrono::milliseconds{1}); }, errc::invalid_argument);
  expect_errc([&] { (void)h.get(); }, errc::invalid_argument);
  expect_errc([&] { (void)h.result(); }, errc::invalid_argument);
}

}  // namespace
