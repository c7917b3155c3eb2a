// Process mode's launcher: workers are processes started by the fork server
// (default), forked directly, or spawned as fresh programs. The fork server is
// forked when the launcher is made, before the pool starts any thread; with
// fork and spawn it only guards the workers (it kills their process groups if
// the supervisor dies).
#include "backend/launcher.hpp"

#include <procpool/shared/error.hpp>

#include <sys/types.h>
#include <unistd.h>

#include <csignal>
#include <memory>
#include <string>
#include <vector>

namespace procpool::detail {
namespace {

class process_launcher final : public launcher {
 public:
  explicit process_launcher(const launch_context& ctx)
      : start_(ctx.opts.start),
        executable_(ctx.opts.worker_executable),
        start_timeout_(ctx.opts.start_timeout),
        base_(ctx.base),
        segment_fd_(ctx.segment_fd),
        arena_fd_(ctx.arena_fd),
        server_(std::make_shared<fork_server>(ctx.base)),
        servers_(ctx.base.header->worker_count) {}

  worker_handle launch(const worker_config& config) override {
    if (server_->dead()) {
      // The server was killed: start another (from this threaded process, a
      // fault path only). Workers it started are reaped through their own.
      server_ = std::make_shared<fork_server>(base_);
    }
    started_worker w;
    switch (start_) {
      case start_method::fork_server: w = server_->start(config.index); break;
      case start_method::fork: w = fork_worker(config); break;
      case start_method::spawn: w = spawn_worker(config, executable_, segment_fd_, arena_fd_); break;
    }
    if (start_ != start_method::fork_server) server_->watch(w.pid);
    servers_[config.index] = server_;
    return worker_handle{w.pid, w.pidfd};
  }

  [[nodiscard]] bool can_kill() const noexcept override { return true; }
  // Through the pidfd, and the group only while the worker is unreaped: the
  // fork server reaps only when reap() asks it to (wait_exit).
  void signal(const worker_handle& w, int sig) noexcept override { signal_worker(w.pidfd, w.pid, sig); }

  exit_status reap(std::uint32_t index, const worker_handle& w) override {
    // The worker is gone but not reaped (a zombie), so its pid, which is also
    // its process group, cannot have been reused: take whatever the task left
    // running in the group along (no worker descendant lives on).
    std::shared_ptr<fork_server> server = std::move(servers_[index]);
    if (start_ == start_method::fork_server) return server->wait_exit(w.pid);
    ::kill(-w.pid, SIGKILL);
    if (server) server->unwatch(w.pid);
    return detail::reap(w.pid);
  }

  [[nodiscard]] int event_fd() const noexcept override {
    // poll ignores a negative fd; a dead server's socket would report hang-up for ever.
    return server_->dead() ? -1 : server_->fd();
  }
  void on_event() override { server_->pump(); }

  [[nodiscard]] std::optional<std::chrono::milliseconds> attach_timeout() const noexcept override {
    if (start_ != start_method::spawn) return std::nullopt;
    return start_timeout_;
  }

  [[nodiscard]] std::string start_failure(const worker_handle& w, const exit_status& how,
                                          bool attached) const override {
    if (!attached && start_ == start_method::spawn) {
      return "worker program " + std::to_string(w.pid) + " " + how.describe() +
             " without attaching to the pool: does its main() begin with "
             "procpool::run_worker_if_requested(argc, argv)?";
    }
    return launcher::start_failure(w, how, attached);
  }

  [[nodiscard]] std::string attach_failure() const override {
    return "worker program '" + (executable_.empty() ? std::string("/proc/self/exe") : executable_) +
           "' did not attach within " + std::to_string(start_timeout_.count()) +
           " ms: does its main() begin with procpool::run_worker_if_requested(argc, argv)?";
  }

 private:
  start_method start_;
  std::string executable_;
  std::chrono::milliseconds start_timeout_;
  worker_config base_;
  int segment_fd_;
  int arena_fd_;
  std::shared_ptr<fork_server> server_;
  /// Per row: the server that knows that worker (for its exit status), kept
  /// even after server_ was replaced.
  std::vector<std::shared_ptr<fork_server>> servers_;
};

}  // namespace

std::unique_ptr<launcher> make_process_launcher(const launch_context& ctx) {
  return std::make_unique<process_launcher>(ctx);
}

}  // namespace procpool::detail
