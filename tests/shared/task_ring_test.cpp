// The task ring of the pool's segment (shared/src/layout.cpp) at the layout
// level, without a pool: retries beyond max_queue, a claimant that dies inside
// the claim's critical section, and the owner-death repair that follows.
//
// TaskRingTest runs in private memory (no fork); TaskRingProcessTest and
// TaskRingFaultPointTest fork a child that dies holding the queue's robust
// mutex. The fault-point cases need PROCPOOL_FAULT_INJECTION and a process of
// their own (ctest runs each case alone); otherwise they skip.
#include <procpool/shared/detail/layout.hpp>
#include <procpool/shared/detail/segment.hpp>

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace d = procpool::detail;

constexpr std::uint32_t workers = 2;
constexpr std::uint64_t max_queue = 4;
constexpr std::uint64_t max_payload = 64;
constexpr int died_status = 128 + SIGKILL;

/// A segment holding a fresh layout (shared: visible to forked children).
struct test_segment {
  explicit test_segment(d::segment::kind k)
      : seg(k, d::compute_layout(workers, max_queue, max_payload).total_bytes),
        h(d::init_layout(seg.data(), workers, max_queue, max_payload)) {}
  d::segment seg;
  d::segment_header* h;
};

/// Pushes task `id`; its size varies with the id, so records of several sizes
/// meet the ring's end (wrap markers).
d::push_result push(d::segment_header* h, std::uint64_t id, bool is_retry) {
  const std::string tag = "t" + std::to_string(id);
  const std::vector<std::uint8_t> args(id % 41, static_cast<std::uint8_t>(id));
  const d::outgoing_message m{id, 2, 0, tag, "task", args};
  return d::push_locked(h, m, is_retry);
}

/// Pushes retries from `first_id` on until the ring's bytes are used up;
/// returns how many fitted. Requires: lock held.
std::uint64_t fill_with_retries(d::segment_header* h, std::uint64_t first_id) {
  std::uint64_t n = 0;
  while (push(h, first_id + n, true) == d::push_result::ok) ++n;
  return n;
}

std::uint64_t queued(d::segment_header* h) {
  return h->queue.pushed.load() - h->queue.popped.load();
}

/// Claims every queued message with row `i`; returns the task ids in order.
/// Requires: lock held.
std::vector<std::uint64_t> drain(d::segment_header* h, std::uint32_t i) {
  std::vector<std::uint64_t> ids;
  while (!d::ring_empty_locked(h)) {
    d::claim_locked(h, i);
    ids.push_back(d::row_at(h, i).claimed.load());
    d::row_at(h, i).claimed.store(0);
  }
  return ids;
}

/// The ids first, first + 1, ..., first + n - 1.
std::vector<std::uint64_t> ids_from(std::uint64_t first, std::uint64_t n) {
  std::vector<std::uint64_t> v;
  for (std::uint64_t k = 0; k < n; ++k) v.push_back(first + k);
  return v;
}

/// True if the queued bytes run across the ring's end.
bool straddles_the_end(d::segment_header* h) {
  const std::uint64_t head = h->queue.head.load();
  const std::uint64_t tail = h->queue.tail.load();
  return head != tail && head / h->ring_bytes != (tail - 1) / h->ring_bytes;
}

/// Runs `fn` in a forked child; returns its exit code, or 128 + signal. A
/// child still running after 30 s (times PROCPOOL_TEST_TIMEOUT_MULTIPLIER) is
/// killed, so the test cannot hang.
int run_child(const std::function<int()>& fn) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    const int code = fn();
    std::fflush(nullptr);
    ::_exit(code);
  }
  const char* m = std::getenv("PROCPOOL_TEST_TIMEOUT_MULTIPLIER");
  const double mult = (m != nullptr && std::atof(m) > 0) ? std::atof(m) : 1.0;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<long>(30000 * mult));
  int st = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return -1;
    if (std::chrono::steady_clock::now() >= deadline) ::kill(pid, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // polling, not ordering
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/// Moves the ring's positions on by `n` pushed and dropped messages, so the
/// next fill starts at another offset. (Dropped, not claimed: claim_locked's
/// fault point would read the fault configuration before a child can arm it.)
void advance(d::segment_header* h, std::uint64_t first_id, std::uint64_t n) {
  for (std::uint64_t k = 0; k < n; ++k) {
    ASSERT_EQ(push(h, first_id + k, false), d::push_result::ok);
    ASSERT_EQ(d::drop_head_locked(h), first_id + k);
  }
}

// The torn state a claimant leaves when it dies between recording its claim
// and advancing the head, with retries holding the ring far beyond max_queue:
// the repair withdraws the claim and recounts every queued message, at every
// offset of the ring (records wrapping at its end included).
TEST(TaskRingTest, RepairAfterTornClaim_CountsEveryRetryBeyondMaxQueue) {
  test_segment s(d::segment::kind::private_);
  d::segment_header* h = s.h;
  d::queue_lock g(h);
  std::uint64_t next_id = 1;
  bool straddled = false;
  for (int round = 0; round < 12; ++round) {
    advance(h, next_id, static_cast<std::uint64_t>(round % 4) + 1);
    next_id += static_cast<std::uint64_t>(round % 4) + 1;
    const std::uint64_t first = next_id;
    const std::uint64_t n = fill_with_retries(h, first);
    next_id += n;
    ASSERT_GT(n, 2 * max_queue) << "round " << round;
    straddled = straddled || straddles_the_end(h);
    // What claim_locked leaves when its claimant dies before its final store.
    d::worker_row& row = d::row_at(h, 0);
    row.claimed.store(d::head_task_id_locked(h));
    d::repair_queue(h);
    EXPECT_EQ(row.claimed.load(), 0U) << "round " << round;
    EXPECT_EQ(queued(h), n) << "round " << round;
    EXPECT_EQ(drain(h, 1), ids_from(first, n)) << "round " << round;
    EXPECT_EQ(queued(h), 0U) << "round " << round;
    EXPECT_EQ(push(h, next_id, false), d::push_result::ok) << "round " << round;  // not "full"
    EXPECT_EQ(drain(h, 1), ids_from(next_id, 1));
    ++next_id;
  }
  EXPECT_TRUE(straddled) << "no fill ran across the ring's end";
}

// Whatever `popped` says before the repair (it is stored after the head), the
// repair makes pushed - popped the number of messages the ring holds, for every
// fill from empty to the ring's byte limit.
TEST(TaskRingTest, Repair_RecountsEveryFillExactly) {
  test_segment s(d::segment::kind::private_);
  d::segment_header* h = s.h;
  d::queue_lock g(h);
  advance(h, 1, 3);  // start off the ring's first byte
  std::uint64_t id = 100;
  for (std::uint64_t n = 0;; ++n) {
    h->queue.popped.store(h->queue.pushed.load() + 12345);  // any stale value
    d::repair_queue(h);
    ASSERT_EQ(queued(h), n);
    if (push(h, id++, true) != d::push_result::ok) break;
  }
  const std::uint64_t total = queued(h);
  EXPECT_GT(total, max_queue);
  EXPECT_EQ(drain(h, 0).size(), total);
  EXPECT_EQ(queued(h), 0U);
}

// The same torn claim, reached the way it happens: a forked claimant dies (SIGKILL)
// holding the queue's robust mutex; the next lock_queue() repairs.
TEST(TaskRingProcessTest, ClaimantDiesHoldingTheLock_NextLockerRecountsEveryRetry) {
  test_segment s(d::segment::kind::shared);
  d::segment_header* h = s.h;
  std::uint64_t n = 0;
  {
    d::queue_lock g(h);
    advance(h, 1, 3);
    n = fill_with_retries(h, 10);
  }
  ASSERT_GT(n, max_queue + 1);
  const int st = run_child([h] {
    d::lock_queue(h);
    d::row_at(h, 0).claimed.store(d::head_task_id_locked(h));
    ::raise(SIGKILL);
    return 1;
  });
  ASSERT_EQ(st, died_status);
  d::queue_lock g(h);  // EOWNERDEAD: repair_queue runs here
  EXPECT_EQ(d::row_at(h, 0).claimed.load(), 0U);
  EXPECT_EQ(queued(h), n);
  EXPECT_EQ(drain(h, 1), ids_from(10, n));
  EXPECT_EQ(queued(h), 0U);
  EXPECT_EQ(push(h, 1000, false), d::push_result::ok);
}

// A claimant killed at a fault point of the real claim_locked(): before the
// head moved its claim is withdrawn and the message stays queued; after it,
// the message is taken (claimed stays) and `popped`, not yet counted, is.
class TaskRingFaultPointTest : public ::testing::TestWithParam<const char*> {};

TEST_P(TaskRingFaultPointTest, ClaimantKilledAtFaultPoint_EveryRetryStillCounted) {
  const std::string point = GetParam();
  test_segment s(d::segment::kind::shared);
  d::segment_header* h = s.h;
  std::uint64_t n = 0;
  {
    d::queue_lock g(h);
    advance(h, 1, 2);
    n = fill_with_retries(h, 10);
  }
  ASSERT_GT(n, max_queue + 1);
  char dir[] = "/tmp/procpool-ring-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string marker = std::string(dir) + "/fired";
  const int st = run_child([&] {
    ::setenv("PROCPOOL_FAULT_INJECT", (point + ":" + marker).c_str(), 1);
    d::lock_queue(h);
    d::claim_locked(h, 0);
    d::unlock_queue(h);
    return 0;
  });
  ::unlink(marker.c_str());
  ::rmdir(dir);
  if (st == 0) GTEST_SKIP() << "fault point not armed (no PROCPOOL_FAULT_INJECTION, or run with other cases)";
  ASSERT_EQ(st, died_status);
  const bool taken = point == "claim_after_head";
  d::queue_lock g(h);  // repairs
  EXPECT_EQ(d::row_at(h, 0).claimed.load(), taken ? 10U : 0U);
  EXPECT_EQ(queued(h), taken ? n - 1 : n);
  EXPECT_EQ(drain(h, 1), ids_from(taken ? 11 : 10, taken ? n - 1 : n));
  EXPECT_EQ(queued(h), 0U);
  EXPECT_EQ(push(h, 1000, false), d::push_result::ok);
}

INSTANTIATE_TEST_SUITE_P(Points, TaskRingFaultPointTest,
                         ::testing::Values("claim_before_head", "claim_after_head"));

}  // namespace
