// Helpers of the shared-state suite: the two modes, a worker that is a thread or
// a forked child, pipe gates that order events across both, and checks that work
// inside a forked child.
//
// Rules kept by every case: events are ordered with gates (pipes) or with the
// primitives' own sleeper counts, never with sleeps; every wait is bounded by
// scaled(); a forked child never returns into gtest (it _exits with its result:
// 0 = success); a worker that "dies" is SIGKILLed (process mode) or exits its
// thread without unlocking (thread mode), and either way reports status 137.
#pragma once

#include "test_util.hpp"

#include <procpool/shared/detail/shared_containers.hpp>
#include <procpool/shared/detail/shared_state_arena.hpp>
#include <procpool/shared/shared_state.hpp>

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

namespace procpool_test {

struct thread_mode {
  static constexpr bool process = false;
};
struct process_mode {
  static constexpr bool process = true;
};

/// prefix + decimal i. (Not "k" + std::to_string(i): GCC 12 at -O2 warns a
/// -Wrestrict false positive inside std::string's operator+.)
template <class Int>
std::string key(std::string_view prefix, Int i) {
  std::string s(prefix);
  s += std::to_string(i);
  return s;
}

/// Exit status of a worker that died on purpose (128 + SIGKILL).
inline constexpr int died_status = 128 + SIGKILL;

/// A check usable in any worker: prints and makes the worker return 1.
#define PP_WCHECK(cond)                                                                   \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "%s:%d: worker check failed: %s\n", __FILE__, __LINE__, #cond); \
      return 1;                                                                           \
    }                                                                                     \
  } while (0)

/// A one-way pipe: open() writes a byte, wait() reads one (bounded). Made before
/// the worker starts, so a forked child shares it.
class gate {
 public:
  gate() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    r_ = fds[0];
    w_ = fds[1];
  }
  gate(const gate&) = delete;
  gate& operator=(const gate&) = delete;
  ~gate() {
    ::close(r_);
    ::close(w_);
  }
  void open(char c = 'g') const {
    while (::write(w_, &c, 1) < 0 && errno == EINTR) {
    }
  }
  /// Writes a 64-bit value.
  void send(std::int64_t v) const {
    const char* p = reinterpret_cast<const char*>(&v);
    std::size_t off = 0;
    while (off < sizeof v) {
      const ssize_t n = ::write(w_, p + off, sizeof v - off);
      if (n > 0) off += static_cast<std::size_t>(n);
      else if (errno != EINTR) return;
    }
  }
  /// True once a byte arrived within scaled(timeout).
  [[nodiscard]] bool wait(std::chrono::milliseconds timeout = std::chrono::milliseconds{10000}) const {
    char c = 0;
    return read_exact(&c, 1, timeout);
  }
  [[nodiscard]] std::optional<std::int64_t> receive(
      std::chrono::milliseconds timeout = std::chrono::milliseconds{10000}) const {
    std::int64_t v = 0;
    if (!read_exact(&v, sizeof v, timeout)) return std::nullopt;
    return v;
  }

 private:
  bool read_exact(void* out, std::size_t n, std::chrono::milliseconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + scaled(timeout);
    auto* p = static_cast<char*>(out);
    std::size_t got = 0;
    while (got < n) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd pfd{r_, POLLIN, 0};
      const int rc = ::poll(&pfd, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 1000)));
      if (rc <= 0) continue;
      const ssize_t r = ::read(r_, p + got, n - got);
      if (r > 0) got += static_cast<std::size_t>(r);
    }
    return true;
  }
  int r_ = -1;
  int w_ = -1;
};

/// A thread or a forked child running `fn` (returning 0 on success). The
/// destructor reaps it (SIGKILL first if a child is still running).
class worker {
 public:
  worker(bool process, std::function<int()> fn) : process_(process) {
    if (process_) {
      std::fflush(nullptr);
      pid_ = ::fork();
      if (pid_ < 0) throw std::runtime_error("fork failed");
      if (pid_ == 0) {
        int code = 1;
        try {
          code = fn();
        } catch (const std::exception& e) {
          std::fprintf(stderr, "worker threw: %s\n", e.what());
        } catch (...) {
          std::fprintf(stderr, "worker threw something\n");
        }
        std::fflush(nullptr);
        ::_exit(code);
      }
    } else {
      status_ = std::make_shared<std::atomic<int>>(-1);
      thread_ = std::thread([fn = std::move(fn), st = status_] {
        int code = 1;
        try {
          code = fn();
        } catch (const std::exception& e) {
          std::fprintf(stderr, "worker threw: %s\n", e.what());
        }
        st->store(code);
      });
    }
  }
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;
  ~worker() {
    if (process_ && pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      (void)wait();
    } else if (!process_ && thread_.joinable()) {
      thread_.join();
    }
  }

  /// Waits for the worker: its return value, or 128 + signal for a child
  /// killed by one.
  int wait() {
    if (process_) {
      if (reaped_) return result_;
      int st = 0;
      while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
      }
      reaped_ = true;
      result_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      return result_;
    }
    if (thread_.joinable()) thread_.join();
    return status_->load();
  }
  /// Process mode: SIGKILL now.
  void kill() const {
    if (process_ && pid_ > 0 && !reaped_) ::kill(pid_, SIGKILL);
  }
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

 private:
  bool process_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  int result_ = -1;
  std::thread thread_;
  std::shared_ptr<std::atomic<int>> status_;
};

/// Base fixture of the typed suites: an arena of the mode under test.
template <class Mode>
class shared_state_fixture : public ::testing::Test {
 protected:
  static constexpr bool process = Mode::process;
  procpool::detail::shared_state_arena arena{Mode::process, std::size_t{16} << 20U};

  /// Starts a worker of this mode.
  std::unique_ptr<worker> spawn(std::function<int()> fn) {
    return std::make_unique<worker>(Mode::process, std::move(fn));
  }
  /// Ends the calling worker while it holds whatever it holds: SIGKILL in a
  /// child, thread exit (without unlocking) in thread mode. Use as
  /// `return this->die();`.
  static int die() {
    if (Mode::process) ::raise(SIGKILL);
    return died_status;
  }
};

/// Waits (bounded) until `word` is nonzero: e.g. a wait_word's sleeper count,
/// proving that someone is blocked in the primitive.
inline bool wait_nonzero(const std::atomic<std::uint32_t>& word,
                         std::chrono::milliseconds timeout = std::chrono::milliseconds{10000}) {
  return wait_until([&] { return word.load() != 0; }, timeout);
}

}  // namespace procpool_test
