// The fork server's reaping contract, tested on the backend itself (no pool):
// a worker that exits stays an unreaped zombie until the supervisor calls
// wait_exit(pid), so until then its pid and process group id cannot be reused
// and signal_worker() may target them. The fork server reports the exit
// (exited()) without reaping; wait_exit() reaps and answers with the status.
#include "fault_util.hpp"

#include "backend/worker_process.hpp"

#include <procpool/shared/detail/layout.hpp>
#include <procpool/shared/detail/posix.hpp>
#include <procpool/shared/detail/segment.hpp>

#include <poll.h>
#include <sys/eventfd.h>

namespace {

using namespace procpool_fault;
namespace pd = procpool::detail;

/// What a worker needs without a pool: a shared segment with its layout and
/// the wake eventfd. Workers forked on it find the queue empty: with
/// `closing` they exit at once with code 0, without it they wait for work.
class bare_pool {
 public:
  bare_pool(std::uint32_t workers, bool closing) {
    constexpr std::uint64_t max_queue = 4;
    constexpr std::uint64_t max_payload = 4096;
    const pd::layout_sizes sizes = pd::compute_layout(workers, max_queue, max_payload);
    seg_ = pd::segment(pd::segment::kind::shared, sizes.total_bytes);
    hdr_ = pd::init_layout(seg_.data(), workers, max_queue, max_payload);
    hdr_->queue.closing.store(closing ? 1 : 0);
    wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  }
  [[nodiscard]] pd::worker_config config() const {
    pd::worker_config c;
    c.header = hdr_;
    c.wake_fd = wake_.get();
    c.pid = static_cast<int>(::getpid());
    return c;
  }

 private:
  pd::segment seg_;
  pd::segment_header* hdr_ = nullptr;
  pd::unique_fd wake_;
};

/// True once `fd` is readable (a pidfd: the process has exited), within `timeout`.
bool readable(const pd::unique_fd& fd, std::chrono::milliseconds timeout) {
  pollfd p{fd.get(), POLLIN, 0};
  int n = 0;
  do {
    n = ::poll(&p, 1, static_cast<int>(scaled(timeout).count()));
  } while (n < 0 && errno == EINTR);
  return n == 1;
}

class ForkServerBackendTest : public FaultTest {};

TEST_F(ForkServerBackendTest, ExitedWorker_StaysUnreapedUntilWaitExit) {
  const bare_pool bare(2, /*closing=*/true);
  pd::fork_server server(bare.config());
  const pd::started_worker w = server.start(0);
  const pd::unique_fd pidfd(w.pidfd);
  ASSERT_TRUE(readable(pidfd, 10s)) << "worker " << w.pid << " did not exit";

  // A round trip through the server: its SIGCHLD was pending before the pidfd
  // became readable, and the server looks at exits before requests.
  const pd::started_worker w2 = server.start(1);
  const pd::unique_fd pidfd2(w2.pidfd);
  ASSERT_TRUE(wait_until(
      [&] {
        server.pump();
        return server.exited(w.pid).has_value();
      },
      10s))
      << "the server never reported the exit";
  EXPECT_EQ(server.exited(w.pid)->exit_code, 0);

  const auto zombie = read_proc_stat(w.pid);
  ASSERT_TRUE(zombie.has_value()) << "the server reaped worker " << w.pid << " before wait_exit";
  EXPECT_EQ(zombie->state, 'Z');
  // Still the worker's pid: signalling it (and its group) hits nobody else.
  EXPECT_EQ(pd::pidfd_signal(pidfd.get(), 0), 0);

  const pd::exit_status how = server.wait_exit(w.pid);
  EXPECT_EQ(how.exit_code, 0) << how.describe();
  EXPECT_FALSE(how.signal.has_value());
  EXPECT_FALSE(read_proc_stat(w.pid).has_value()) << "wait_exit returned before the reap";
  EXPECT_FALSE(server.exited(w.pid).has_value());
  errno = 0;
  EXPECT_EQ(pd::pidfd_signal(pidfd.get(), 0), -1);
  EXPECT_EQ(errno, ESRCH) << "a reaped worker's pidfd refuses signals: signal_worker stops there";

  ASSERT_TRUE(readable(pidfd2, 10s));
  EXPECT_EQ(server.wait_exit(w2.pid).exit_code, 0);
}

TEST_F(ForkServerBackendTest, SignalWorkerThroughPidfd_ExitReportedThenReaped) {
  const bare_pool bare(1, /*closing=*/false);  // the worker waits for work
  pd::fork_server server(bare.config());
  const pd::started_worker w = server.start(0);
  const pd::unique_fd pidfd(w.pidfd);
  pd::signal_worker(pidfd.get(), w.pid, SIGTERM);
  ASSERT_TRUE(readable(pidfd, 10s)) << "SIGTERM through the pidfd did not end worker " << w.pid;
  ASSERT_TRUE(wait_until(
      [&] {
        server.pump();
        return server.exited(w.pid).has_value();
      },
      10s));
  EXPECT_EQ(server.exited(w.pid)->signal, SIGTERM);
  // Signalling the unreaped worker again is harmless.
  pd::signal_worker(pidfd.get(), w.pid, SIGKILL);
  const pd::exit_status how = server.wait_exit(w.pid);
  ASSERT_TRUE(how.signal.has_value()) << how.describe();
  EXPECT_EQ(*how.signal, SIGTERM);
  EXPECT_EQ(how.describe(), "was killed by signal 15 (SIGTERM)");
}

TEST_F(ForkServerBackendTest, WaitExitOfUnknownPid_AnswersAtOnce) {
  const bare_pool bare(1, /*closing=*/true);
  pd::fork_server server(bare.config());
  const auto t0 = std::chrono::steady_clock::now();
  const pd::exit_status how = server.wait_exit(::getpid());  // not one of the server's workers
  EXPECT_EQ(how.exit_code, -1);
  EXPECT_FALSE(server.dead());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, scaled(2s));
}

}  // namespace
