// White-box cases of the result store (supervisor/src/front): what it keeps
// of a held tag once nothing but the store refers to its record.
#include "front/result_store.hpp"

#include <procpool/shared/error.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

namespace {

using procpool::errc;
using procpool::retention;
using procpool::task_state;
using procpool::detail::deadline;
using procpool::detail::result_store;
using procpool::detail::task_record;

/// Every field of a result, compared one by one.
void expect_same(const procpool::result& a, const procpool::result& b) {
  EXPECT_EQ(a.tag, b.tag);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.value, b.value);
  EXPECT_EQ(a.error_type, b.error_type);
  EXPECT_EQ(a.error_message, b.error_message);
  EXPECT_EQ(a.error_code, b.error_code);
  EXPECT_EQ(a.exit_code, b.exit_code);
  EXPECT_EQ(a.signal, b.signal);
  EXPECT_EQ(a.attempts, b.attempts);
  EXPECT_EQ(a.attempt_errors, b.attempt_errors);
  EXPECT_EQ(a.worker_pid, b.worker_pid);
  EXPECT_EQ(a.started_at, b.started_at);
  EXPECT_EQ(a.finished_at, b.finished_at);
  EXPECT_EQ(a.rank, b.rank);
  EXPECT_EQ(a.host, b.host);
}

procpool::result done_result(const std::string& tag, nlohmann::json value) {
  procpool::result r;
  r.tag = tag;
  r.state = task_state::done;
  r.value = std::move(value);
  r.attempts = 1;
  r.worker_pid = 4242;
  r.started_at = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'700'000'000'000));
  r.finished_at = r.started_at + std::chrono::milliseconds(3);
  return r;
}

procpool::result crashed_result(const std::string& tag) {
  procpool::result r = done_result(tag, nullptr);
  r.state = task_state::crashed;
  r.error_type = "procpool::worker_crashed";
  r.error_message = "worker 4242 was killed by signal 9 (SIGKILL)";
  r.error_code = errc::worker_crashed;
  r.signal = 9;
  r.attempts = 2;
  r.attempt_errors = {"crashed: worker 4241 was killed by signal 9 (SIGKILL)"};
  r.rank = 2;
  r.host = "node7";
  return r;
}

/// A finished, ready record published in `store` under `r.tag`.
std::shared_ptr<task_record> publish_finished(result_store& store, const procpool::result& r) {
  const result_store::reservation slot =
      store.reserve(r.tag, procpool::detail::space_policy::fail_fast, deadline::after(std::nullopt), "test");
  auto rec = std::make_shared<task_record>();
  rec->tag = r.tag;
  rec->res = r;
  rec->terminal = true;
  rec->ready = true;
  store.publish(slot, rec);
  return rec;
}

class ResultStoreTest : public ::testing::TestWithParam<bool> {
 protected:
  /// The case's outcome: a done value, or a failure with every field set.
  [[nodiscard]] procpool::result outcome(const std::string& tag) const {
    return GetParam() ? crashed_result(tag) : done_result(tag, {{"k", std::string(100, 'v')}});
  }
};

TEST_P(ResultStoreTest, LetGo_OnlyTheStoreRefersToIt_RecordFreedOutcomeKept) {
  result_store store(retention::keep_until_taken, 0);
  std::shared_ptr<task_record> rec = publish_finished(store, outcome("a"));
  const std::weak_ptr<task_record> watch = rec;
  store.let_go(std::move(rec));
  EXPECT_TRUE(watch.expired()) << "the store kept the whole record of a finished tag nobody refers to";
  expect_same(store.wait("a", false, "test"), outcome("a"));
  expect_same(store.wait("a", false, "test"), outcome("a"));  // result() leaves it in place
  const auto all = store.wait_all();
  ASSERT_EQ(all.size(), 1u);
  expect_same(all.at("a"), outcome("a"));
  EXPECT_THROW((void)store.reserve("a", procpool::detail::space_policy::fail_fast, deadline::after(std::nullopt), "test"),
               procpool::error)
      << "a settled tag is still held: its tag is not free";
  expect_same(store.wait("a", true, "test"), outcome("a"));  // take()
  EXPECT_EQ(store.size(), 0u);
  EXPECT_THROW((void)store.wait("a", false, "test"), procpool::error);
}

TEST_P(ResultStoreTest, LetGo_AnotherReferenceLeft_RecordKept) {
  result_store store(retention::keep_until_taken, 0);
  std::shared_ptr<task_record> rec = publish_finished(store, outcome("a"));
  const std::shared_ptr<task_record> handle = rec;  // a handle the user still holds
  store.let_go(std::move(rec));
  EXPECT_EQ(handle.use_count(), 2) << "the record left the store while a handle reads it";
  expect_same(store.wait("a", true, "test"), outcome("a"));
}

TEST_P(ResultStoreTest, LetGo_NotReady_RecordKept) {
  result_store store(retention::keep_until_taken, 0);
  std::shared_ptr<task_record> rec = publish_finished(store, outcome("a"));
  rec->ready = false;  // callbacks still to run
  const std::weak_ptr<task_record> watch = rec;
  store.let_go(std::move(rec));
  EXPECT_FALSE(watch.expired());
}

TEST_P(ResultStoreTest, LetGo_DropOnceDelivered_StoreUntouched) {
  result_store store(retention::drop_once_delivered, 0);
  std::shared_ptr<task_record> rec = publish_finished(store, outcome("a"));
  const std::weak_ptr<task_record> watch = rec;
  store.let_go(std::move(rec));
  EXPECT_FALSE(watch.expired()) << "under drop_once_delivered the tag leaves when delivered, not earlier";
  expect_same(store.wait("a", false, "test"), outcome("a"));
  EXPECT_EQ(store.size(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Outcomes, ResultStoreTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "Failure" : "Done"; });

}  // namespace
