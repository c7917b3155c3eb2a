// Thread mode's launcher: each worker is a thread of this process running the
// same worker loop over the same ring, in private memory.
#include "backend/launcher.hpp"

#include <procpool/shared/detail/layout.hpp>

#include <unistd.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

namespace procpool::detail {
namespace {

class thread_launcher final : public launcher {
 public:
  explicit thread_launcher(const launch_context& ctx)
      : header_(ctx.base.header), wake_fd_(ctx.base.wake_fd), slots_(ctx.base.header->worker_count) {}

  ~thread_launcher() override {
    // The backend reaps every worker before it goes; a thread still here
    // would outlive the memory it runs on.
    for (slot& s : slots_) {
      if (s.thread.joinable()) s.thread.join();
    }
  }

  worker_handle launch(const worker_config& config) override {
    const std::uint32_t i = config.index;
    worker_config cfg = config;
    cfg.pid = static_cast<int>(::getpid());
    row_at(header_, i).pid.store(cfg.pid, std::memory_order_relaxed);
    slots_[i].thread = std::thread([this, i, cfg = std::move(cfg)] {
      const int code = run_worker(cfg);
      slots_[i].exit_code.store(code, std::memory_order_relaxed);
      // The row says exited only once the code is stored: reap() reads it.
      row_at(header_, i).state.store(static_cast<std::uint32_t>(row_state::exited),
                                     std::memory_order_release);
      wake_collector(header_, wake_fd_);
    });
    return worker_handle{static_cast<pid_t>(cfg.pid), -1};
  }

  [[nodiscard]] bool can_kill() const noexcept override { return false; }
  void signal(const worker_handle& /*w*/, int /*sig*/) noexcept override {}

  exit_status reap(std::uint32_t index, const worker_handle& /*w*/) override {
    slot& s = slots_[index];
    if (s.thread.joinable()) s.thread.join();
    exit_status st;
    st.exit_code = s.exit_code.load(std::memory_order_relaxed);
    return st;
  }

  [[nodiscard]] std::string start_failure(const worker_handle& /*w*/, const exit_status& how,
                                          bool /*attached*/) const override {
    return "worker thread " + how.describe() + " before it was ready";
  }

 private:
  struct slot {
    std::thread thread;
    std::atomic<int> exit_code{0};
  };
  segment_header* header_;
  int wake_fd_;
  std::vector<slot> slots_;
};

}  // namespace

std::string launcher::start_failure(const worker_handle& w, const exit_status& how,
                                    bool /*attached*/) const {
  return "worker " + std::to_string(w.pid) + " " + how.describe() + " before it was ready";
}

std::unique_ptr<launcher> make_thread_launcher(const launch_context& ctx) {
  return std::make_unique<thread_launcher>(ctx);
}

}  // namespace procpool::detail
