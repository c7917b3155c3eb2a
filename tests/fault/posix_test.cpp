// The shared POSIX plumbing (procpool/shared/detail/posix.hpp): descriptor
// ownership, the one exit-status decoder, and forking with signals blocked.
#include "fault_util.hpp"

#include <procpool/shared/detail/posix.hpp>

#include <fcntl.h>
#include <pthread.h>
#include <sys/wait.h>

#include <iterator>

namespace {

using namespace procpool_fault;
namespace pd = procpool::detail;

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) >= 0; }

TEST(PosixTest, UniqueFd_ClosesMovesReleasesResets) {
  int p[2] = {-1, -1};
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  {
    pd::unique_fd a(p[0]);
    pd::unique_fd b(std::move(a));
    EXPECT_EQ(a.get(), -1);  // NOLINT(bugprone-use-after-move): the moved-from state is the point
    EXPECT_EQ(b.get(), p[0]);
    pd::unique_fd c(p[1]);
    const int raw = c.release();
    EXPECT_FALSE(c);
    EXPECT_TRUE(is_open(raw));
    c.reset(raw);
    EXPECT_EQ(c.get(), raw);
  }
  EXPECT_FALSE(is_open(p[0]));
  EXPECT_FALSE(is_open(p[1]));
}

TEST(PosixTest, ExitStatus_DecodedOnceDescribedOnce) {
  const pd::exit_status code = pd::decode_wait_status(3 << 8);
  EXPECT_EQ(code.exit_code, 3);
  EXPECT_FALSE(code.signal.has_value());
  EXPECT_EQ(code.describe(), "exited with code 3");
  EXPECT_FALSE(code.clean());

  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::raise(SIGKILL);
    ::_exit(1);
  }
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT), 0);
  const pd::exit_status peeked = pd::decode_child_info(info);
  const pd::exit_status reaped = pd::reap(pid);
  EXPECT_EQ(peeked.signal, SIGKILL);
  EXPECT_EQ(reaped.signal, SIGKILL);
  EXPECT_FALSE(reaped.exit_code.has_value());
  EXPECT_EQ(reaped.describe(), "was killed by signal 9 (SIGKILL)");
}

/// Forks with `kind`; the child reports through its exit code whether every
/// catchable signal was blocked when it started.
void expect_child_starts_blocked(pd::fork_kind kind) {
  sigset_t before;
  ASSERT_EQ(::pthread_sigmask(SIG_SETMASK, nullptr, &before), 0);
  auto child = []() noexcept {
    sigset_t now;
    ::pthread_sigmask(SIG_SETMASK, nullptr, &now);
    ::_exit(sigismember(&now, SIGTERM) == 1 && sigismember(&now, SIGINT) == 1 &&
                    sigismember(&now, SIGCHLD) == 1
                ? 0
                : 1);
  };
  const pid_t pid = pd::fork_with_signals_blocked(child, kind);
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(pd::reap(pid).clean()) << "the child did not start with every signal blocked";
  sigset_t after;
  ASSERT_EQ(::pthread_sigmask(SIG_SETMASK, nullptr, &after), 0);
  for (const int s : {SIGTERM, SIGINT, SIGCHLD, SIGUSR1}) {
    EXPECT_EQ(sigismember(&after, s), sigismember(&before, s)) << "the parent's mask changed: " << s;
  }
}

TEST(PosixTest, ForkWithSignalsBlocked_ChildBlockedParentRestored) {
  expect_child_starts_blocked(pd::fork_kind::fork);
  expect_child_starts_blocked(pd::fork_kind::vfork);
}

TEST(PosixTest, CloseFdsExcept_KeepsOnlyTheListed) {
  int p[2] = {-1, -1};
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  const pd::unique_fd r(p[0]);
  const pd::unique_fd w(p[1]);
  const pd::unique_fd extra(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  auto child = [&]() noexcept {
    const int keep[] = {w.get(), w.get(), 1};  // duplicates and stdio are fine
    pd::close_fds_except(keep, std::size(keep));
    ::_exit(is_open(w.get()) && !is_open(r.get()) && !is_open(extra.get()) ? 0 : 1);
  };
  const pid_t pid = pd::fork_with_signals_blocked(child);
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(pd::reap(pid).clean());
}

}  // namespace
