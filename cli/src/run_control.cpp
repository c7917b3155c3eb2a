#include "run_control.hpp"

#include <poll.h>

#include <array>

#include "run_output.hpp"

namespace procpool::cli::detail {

void control_thread::start(procpool::pool& pool) {
  thread_ = std::thread([this, &pool] { loop_(pool); });
}

void control_thread::stop() {
  if (!thread_.joinable()) return;
  quit_ = true;
  s_.stop.wake();
  thread_.join();
}

void control_thread::loop_(procpool::pool& pool) {
  for (;;) {
    std::array<pollfd, 2> fds = {
        {{s_.stop.signal_fd(), POLLIN, 0}, {s_.stop.wake_fd(), POLLIN, 0}}};
    const int n = ::poll(fds.data(), fds.size(), static_cast<int>(tick.count()));
    if (n > 0 && (fds[0].revents & POLLIN) != 0) s_.stop.take_signals();
    if (n > 0 && (fds[1].revents & POLLIN) != 0) s_.stop.clear_wake();
    apply_stop_(pool);
    if (quit_.load()) return;
    s_.sink.periodic_flush();
    progress_.draw();
  }
}

void control_thread::apply_stop_(procpool::pool& pool) {
  const int level = s_.stop.level();
  if (level >= 1 && applied_ < 1) {
    applied_ = 1;
    // close() first: no submit can slip in between, so the queue ends empty.
    pool.close();
    (void)pool.cancel_queued();
  }
  if (level >= 2 && applied_ < 2) {
    applied_ = 2;
    pool.terminate();
  }
}

}  // namespace procpool::cli::detail
