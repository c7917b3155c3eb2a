// Helpers shared by the procpool test executables: scaled timeouts, deadline
// waits, temporary directories with FIFOs, descriptor RAII, and gtest printers
// for procpool's enums.
//
// Every wait that could hang goes through scaled(): the environment variable
// PROCPOOL_TEST_TIMEOUT_MULTIPLIER (a positive number, default 1) stretches it
// for sanitizer and slow builds. Nothing here orders events with a sleep: the
// polling loops only re-check a condition until a deadline.
#pragma once

#include <procpool/procpool.hpp>

#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <map>
#include <cerrno>
#include <cstdint>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

// gtest printers, found by argument-dependent lookup.
namespace procpool {
inline void PrintTo(task_state s, std::ostream* os) { *os << to_string(s); }
inline void PrintTo(errc e, std::ostream* os) {
  *os << "errc(" << static_cast<int>(e) << ": " << make_error_code(e).message() << ")";
}
inline void PrintTo(mode m, std::ostream* os) {
  *os << (m == mode::thread ? "thread" : "process");
}
}  // namespace procpool

namespace procpool_test {

using namespace std::chrono_literals;

/// PROCPOOL_TEST_TIMEOUT_MULTIPLIER, or 1 when unset or not a positive number.
[[nodiscard]] inline double timeout_multiplier() noexcept {
  static const double value = [] {
    const char* text = std::getenv("PROCPOOL_TEST_TIMEOUT_MULTIPLIER");
    if (text == nullptr || *text == '\0') return 1.0;
    char* end = nullptr;
    const double v = std::strtod(text, &end);
    return (end != text && v > 0.0) ? v : 1.0;
  }();
  return value;
}

/// `d` stretched by the multiplier.
[[nodiscard]] inline std::chrono::milliseconds scaled(std::chrono::milliseconds d) noexcept {
  return std::chrono::milliseconds{
      static_cast<std::chrono::milliseconds::rep>(static_cast<double>(d.count()) *
                                                  timeout_multiplier())};
}

/// Re-checks `pred` until it holds or scaled(timeout) passed; returns the last
/// value of `pred`. Yields between checks (and naps briefly after a while, so a
/// long wait does not burn the core a worker needs).
template <class Pred>
[[nodiscard]] bool wait_until(Pred&& pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + scaled(timeout);
  for (unsigned spins = 0;; ++spins) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    if (spins < 100) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(1ms);  // polling interval, not ordering
    }
  }
}

/// Runs `fn`, expects it to throw procpool::error with `code`; returns what().
template <class F>
std::string expect_errc(F&& fn, procpool::errc code) {
  try {
    std::forward<F>(fn)();
  } catch (const procpool::error& e) {
    EXPECT_EQ(e.code_value(), code) << "what(): " << e.what();
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected procpool::error, got another exception: " << e.what();
    return {};
  }
  ADD_FAILURE() << "expected procpool::error with errc " << static_cast<int>(code)
                << ", nothing was thrown";
  return {};
}

/// An owned file descriptor; -1 when empty.
class unique_fd {
 public:
  unique_fd() noexcept = default;
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }

  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] bool valid() const noexcept { return fd_ >= 0; }
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

/// This process's open descriptors, each with what it points to (the listing's
/// own descriptor excluded).
[[nodiscard]] inline std::map<int, std::string> open_fds() {
  std::map<int, std::string> out;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return out;
  const int own = ::dirfd(d);
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const int fd = std::atoi(e->d_name);
    if (fd == own) continue;
    std::array<char, 512> buf{};
    const std::string link = "/proc/self/fd/" + std::string(e->d_name);
    const ssize_t n = ::readlink(link.c_str(), buf.data(), buf.size() - 1);
    out[fd] = n > 0 ? std::string(buf.data(), static_cast<std::size_t>(n)) : "?";
  }
  ::closedir(d);
  return out;
}

/// A fresh directory (mkdtemp) removed, with every FIFO made in it, on destruction.
class temp_dir {
 public:
  temp_dir() {
    std::string templ = "/tmp/procpool-test-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) {
      throw std::system_error(errno, std::generic_category(), "mkdtemp");
    }
    path_ = templ;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  temp_dir(temp_dir&&) = delete;
  temp_dir& operator=(temp_dir&&) = delete;
  ~temp_dir() {
    for (const auto& f : files_) ::unlink(f.c_str());
    ::rmdir(path_.c_str());
  }

  [[nodiscard]] const std::string& path() const noexcept { return path_; }

  /// Makes a FIFO (mode 0600) named `name` in the directory; returns its path.
  std::string make_fifo(const std::string& name) {
    std::string p = path_ + "/" + name;
    if (::mkfifo(p.c_str(), 0600) != 0) {
      throw std::system_error(errno, std::generic_category(), "mkfifo " + p);
    }
    files_.push_back(p);
    return p;
  }

 private:
  std::string path_;
  std::vector<std::string> files_;
};

/// Opens a FIFO read-write (never blocks on Linux, and keeps the FIFO open for
/// both sides so neither a reader nor a writer in a task ever sees EOF/EPIPE).
[[nodiscard]] inline unique_fd open_fifo_rw(const std::string& path, bool nonblocking) {
  int flags = O_RDWR | O_CLOEXEC;
  if (nonblocking) flags |= O_NONBLOCK;
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + path);
  return unique_fd{fd};
}

/// Writes `n` bytes (each `byte`) to `fd`: opens `n` gate tasks.
inline void open_gate(const unique_fd& fd, std::size_t n = 1, char byte = 'g') {
  const std::string bytes(n, byte);
  std::size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t w = ::write(fd.get(), bytes.data() + off, bytes.size() - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "write gate");
    }
    off += static_cast<std::size_t>(w);
  }
}

/// Reads one '\n'-terminated line from a non-blocking `fd`, polling until
/// scaled(timeout); nullopt when the deadline passed first.
[[nodiscard]] inline std::optional<std::string> read_line(const unique_fd& fd,
                                                          std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + scaled(timeout);
  std::string line;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{fd.get(), POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 100)));
    if (n < 0 && errno != EINTR) return std::nullopt;
    if (n <= 0) continue;
    char c = 0;
    const ssize_t r = ::read(fd.get(), &c, 1);
    if (r == 1) {
      if (c == '\n') return line;
      line.push_back(c);
    } else if (r < 0 && errno != EAGAIN && errno != EINTR) {
      return std::nullopt;
    }
  }
}

/// Calls `fn` when the scope ends (also on an ASSERT failure's early return).
template <class F>
class scope_exit {
 public:
  explicit scope_exit(F fn) : fn_(std::move(fn)) {}
  scope_exit(const scope_exit&) = delete;
  scope_exit& operator=(const scope_exit&) = delete;
  scope_exit(scope_exit&&) = delete;
  scope_exit& operator=(scope_exit&&) = delete;
  ~scope_exit() {
    if (active_) fn_();
  }
  void release() noexcept { active_ = false; }

 private:
  F fn_;
  bool active_ = true;
};

}  // namespace procpool_test
