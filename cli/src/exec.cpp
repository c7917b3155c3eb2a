#include "exec.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <string_view>
#include <system_error>
#include <utility>

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX names it only here

namespace procpool::cli::detail {
namespace {

std::atomic<pid_t> supervisor_pid{0};

/// An owned descriptor.
class fd_owner {
 public:
  fd_owner() noexcept = default;
  explicit fd_owner(int fd) noexcept : fd_(fd) {}
  fd_owner(fd_owner&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  fd_owner& operator=(fd_owner&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  fd_owner(const fd_owner&) = delete;
  fd_owner& operator=(const fd_owner&) = delete;
  ~fd_owner() { reset(); }
  [[nodiscard]] int get() const noexcept { return fd_; }
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

[[noreturn]] void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), std::string("exec: ") + what);
}

/// Moves `fd` to a number >= 3 (close-on-exec), so that the child's dup2 onto
/// 0, 1 and 2 can never clobber another of its descriptors.
fd_owner above_stdio(int fd) {
  if (fd >= 3) return fd_owner(fd);
  const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  const int e = errno;
  ::close(fd);
  if (moved < 0) {
    errno = e;
    throw_errno("fcntl");
  }
  return fd_owner(moved);
}

std::pair<fd_owner, fd_owner> make_pipe() {
  std::array<int, 2> p{};
  if (::pipe2(p.data(), O_CLOEXEC) != 0) throw_errno("pipe2");
  fd_owner r = above_stdio(p[0]);
  fd_owner w = above_stdio(p[1]);
  return {std::move(r), std::move(w)};
}

/// execvp's search, done before the fork (where allocating is still allowed).
std::string resolve_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  std::string path;
  if (const char* p = std::getenv("PATH"); p != nullptr) {
    path = p;
  } else {
    path = "/bin:/usr/bin";
  }
  bool found_not_executable = false;
  std::size_t start = 0;
  for (;;) {
    const std::size_t colon = path.find(':', start);
    std::string_view dir = std::string_view(path).substr(
        start, colon == std::string::npos ? std::string::npos : colon - start);
    if (dir.empty()) dir = ".";  // an empty PATH entry is the current directory
    std::string candidate;
    candidate.reserve(dir.size() + 1 + name.size());
    candidate.append(dir).append("/").append(name);
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
      found_not_executable = true;
    }
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  throw command_not_started("cannot run '" + name + "': " +
                            (found_not_executable ? "permission denied" : "command not found"));
}

[[noreturn]] void child_fail(int report_fd) noexcept {
  const int e = errno;
  [[maybe_unused]] const ssize_t n = ::write(report_fd, &e, sizeof e);
  ::_exit(127);
}

/// The child between fork and execve: system calls only (the parent may have
/// other threads, whose locks this copy of the process must never touch).
[[noreturn]] void exec_child(const char* path, char* const* argv, int in_fd, int out_fd, int err_fd,
                             int report_fd, pid_t parent, bool own_group) noexcept {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127);  // the parent went during the fork
  if (own_group) ::setpgid(0, 0);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGPIPE, &dfl, nullptr);  // the command line ignores it; programs expect it
  if (::dup2(in_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0) child_fail(report_fd);
  // Nothing else crosses the exec (descriptors the host program left open without
  // close-on-exec included). Best effort on kernels without CLOSE_RANGE_CLOEXEC.
  ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execve(path, argv, environ);
  child_fail(report_fd);
}

/// Appends what `fd` has now (non-blocking) to `keep`, up to `limit` bytes
/// kept in all; returns false at end of file.
bool drain(int fd, std::string& keep, std::size_t limit, bool& truncated) {
  std::array<char, 16384> buf{};
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n > 0) {
      const auto got = static_cast<std::size_t>(n);
      const std::size_t room = limit > keep.size() ? limit - keep.size() : 0;
      keep.append(buf.data(), std::min(room, got));
      if (got > room) truncated = true;
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;  // other errors: treat as closed
  }
}

}  // namespace

void note_supervisor_process() noexcept { supervisor_pid.store(::getpid()); }

std::string describe_status(const command_outcome& o) {
  if (o.signal) {
    const char* abbrev = ::sigabbrev_np(*o.signal);
    return "killed by signal " + std::to_string(*o.signal) +
           (abbrev != nullptr ? " (SIG" + std::string(abbrev) + ")" : std::string());
  }
  return "exited with code " + std::to_string(o.exit_code.value_or(-1));
}

command_outcome run_command(const std::vector<std::string>& argv, const task_context* ctx,
                            std::size_t max_output, std::chrono::milliseconds stop_grace) {
  if (argv.empty()) throw command_not_started("exec: empty argv");
  const std::string path = resolve_program(argv[0]);
  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (const std::string& a : argv)
    cargv.push_back(const_cast<char*>(a.c_str()));  // NOLINT: execve's signature
  cargv.push_back(nullptr);

  const int null_raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_raw < 0) throw_errno("open /dev/null");
  fd_owner devnull = above_stdio(null_raw);
  auto [out_r, out_w] = make_pipe();
  auto [err_r, err_w] = make_pipe();
  auto [report_r, report_w] = make_pipe();

  // Thread mode runs in the command line process itself: give the command its
  // own process group. In a forked worker it stays in the worker's group.
  const pid_t self = ::getpid();
  const bool own_group = self == supervisor_pid.load();

  // vfork: the child borrows our memory until execve (no page tables to copy, which
  // matters for a large parent); it runs only exec_child, system calls and no return.
  const pid_t pid = ::vfork();  // NOLINT(clang-analyzer-security.insecureAPI.vfork): see above
  if (pid < 0) throw_errno("vfork");
  if (pid == 0) {
    exec_child(path.c_str(), cargv.data(), devnull.get(), out_w.get(), err_w.get(), report_w.get(),
               self, own_group);
  }
  if (own_group) ::setpgid(pid, pid);  // both sides, so a group kill works at once
  // If anything below throws, the command must not outlive the call.
  struct child_guard {
    pid_t pid;
    bool own_group;
    bool reaped = false;
    child_guard(pid_t p, bool g) : pid(p), own_group(g) {}
    child_guard(const child_guard&) = delete;
    child_guard& operator=(const child_guard&) = delete;
    child_guard(child_guard&&) = delete;
    child_guard& operator=(child_guard&&) = delete;
    ~child_guard() {
      if (reaped) return;
      if (own_group) ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      int st = 0;
      while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
      }
    }
  } guard{pid, own_group};
  devnull.reset();
  out_w.reset();
  err_w.reset();
  report_w.reset();

  auto reap = [&guard, pid]() -> int {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    guard.reaped = true;
    return status;
  };

  int child_errno = 0;
  ssize_t n = 0;
  do {
    n = ::read(report_r.get(), &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  report_r.reset();
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    (void)reap();
    throw command_not_started("cannot run '" + argv[0] + "': " + std::strerror(child_errno));
  }

  ::fcntl(out_r.get(), F_SETFL, O_NONBLOCK);
  ::fcntl(err_r.get(), F_SETFL, O_NONBLOCK);
  fd_owner pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));

  auto kill_command = [&](int sig) {
    if (own_group) ::kill(-pid, sig);
    ::kill(pid, sig);
  };

  command_outcome o;
  bool out_open = true;
  bool err_open = true;
  bool exited = false;
  int status = 0;
  bool stopping = false;
  std::chrono::steady_clock::time_point kill_at{};
  constexpr int stop_check_ms = 100;

  while (!exited) {
    std::array<pollfd, 3> fds{};
    nfds_t nfds = 0;
    const nfds_t out_i = nfds;
    fds[nfds++] = {out_open ? out_r.get() : -1, POLLIN, 0};
    const nfds_t err_i = nfds;
    fds[nfds++] = {err_open ? err_r.get() : -1, POLLIN, 0};
    const nfds_t pid_i = nfds;
    fds[nfds++] = {pidfd.get(), POLLIN, 0};
    int timeout = -1;
    if (ctx != nullptr) timeout = stop_check_ms;
    if (pidfd.get() < 0) timeout = 10;  // no pidfd: look with waitpid(WNOHANG)
    if (stopping) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          kill_at - std::chrono::steady_clock::now());
      timeout = static_cast<int>(std::clamp<std::int64_t>(left.count() + 1, 0, stop_check_ms));
    }
    const int ready = ::poll(fds.data(), nfds, timeout);
    if (ready < 0 && errno != EINTR) throw_errno("poll");
    if (ready > 0) {
      if (fds[out_i].revents != 0) out_open = drain(out_r.get(), o.out, max_output, o.truncated);
      if (fds[err_i].revents != 0) err_open = drain(err_r.get(), o.err, max_output, o.truncated);
      if (fds[pid_i].revents != 0) exited = true;  // a zombie now, reaped below
    }
    if (!exited && pidfd.get() < 0) {
      siginfo_t info{};
      exited = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
               info.si_pid == pid;
    }
    if (exited) break;
    if (ctx != nullptr && !stopping && ctx->stop_requested()) {
      stopping = true;
      kill_command(SIGTERM);
      kill_at = std::chrono::steady_clock::now() + stop_grace;
    } else if (stopping && std::chrono::steady_clock::now() >= kill_at) {
      kill_command(SIGKILL);
      kill_at = std::chrono::steady_clock::time_point::max();
    }
  }
  // Until it is reaped its pid (and so its group id) cannot be reused.
  if (stopping && own_group) ::kill(-pid, SIGKILL);  // whatever is left of its group
  status = reap();
  // What the command wrote before it ended is in the pipes now. Output that
  // its own children write later is not waited for.
  if (out_open) (void)drain(out_r.get(), o.out, max_output, o.truncated);
  if (err_open) (void)drain(err_r.get(), o.err, max_output, o.truncated);
  if (WIFSIGNALED(status)) {
    o.signal = WTERMSIG(status);
  } else if (WIFEXITED(status)) {
    o.exit_code = WEXITSTATUS(status);
  } else {
    o.exit_code = -1;
  }
  if (stopping) {
    throw task_stopped("exec: '" + argv[0] + "' stopped on request (" + describe_status(o) + ")");
  }
  return o;
}

}  // namespace procpool::cli::detail
