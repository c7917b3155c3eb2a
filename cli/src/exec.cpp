#include "exec.hpp"

#include <procpool/shared/detail/posix.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <string_view>
#include <system_error>
#include <utility>

#include "results_dir.hpp"
#include "text.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX names it only here

namespace procpool::cli::detail {
namespace {

using procpool::detail::exit_status;
using procpool::detail::unique_fd;

std::atomic<pid_t> supervisor_pid{0};

[[noreturn]] void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), std::string("exec: ") + what);
}

/// Moves `fd` (owned) to a number >= 3 (close-on-exec), so that the child's
/// dup2 onto 0, 1 and 2 can never clobber another of its descriptors.
unique_fd above_stdio(int fd) {
  unique_fd owned(fd);
  if (fd >= 3) return owned;
  try {
    return procpool::detail::dup_at_least(fd, 3);
  } catch (const std::system_error& e) {
    throw std::system_error(e.code(), "exec: fcntl");
  }
}

std::pair<unique_fd, unique_fd> make_pipe() {
  std::array<int, 2> p{};
  if (::pipe2(p.data(), O_CLOEXEC) != 0) throw_errno("pipe2");
  unique_fd r = above_stdio(p[0]);
  unique_fd w = above_stdio(p[1]);
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

/// What the child needs between fork and execve, prepared before the fork.
struct child_plan {
  const char* path;
  char* const* argv;
  int in_fd;
  int out_fd;
  int err_fd;
  int report_fd;
  pid_t parent;
  bool own_group;
};

/// The child between fork and execve: system calls only (the parent may have
/// other threads, whose locks this copy of the process must never touch). It
/// starts with every signal blocked (fork_with_signals_blocked), so none of the
/// host's handlers runs here while the dispositions are reset.
[[noreturn]] void exec_child(const child_plan& p) noexcept {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != p.parent) ::_exit(127);  // the parent went during the fork
  if (p.own_group) ::setpgid(0, 0);
  // Ignored signals survive execve (the command line ignores SIGPIPE); programs
  // expect the defaults.
  procpool::detail::default_signal_dispositions();
  if (::dup2(p.in_fd, 0) < 0 || ::dup2(p.out_fd, 1) < 0 || ::dup2(p.err_fd, 2) < 0) {
    child_fail(p.report_fd);
  }
  // Nothing else crosses the exec (descriptors the host program left open without
  // close-on-exec included). Best effort on kernels without CLOSE_RANGE_CLOEXEC.
  ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
  procpool::detail::unblock_all_signals();
  ::execve(p.path, p.argv, environ);
  child_fail(p.report_fd);
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

/// The started command: signalled and reaped if the call ends early, so it
/// never outlives run_command.
class child_guard {
 public:
  child_guard(pid_t pid, bool own_group) noexcept : pid_(pid), own_group_(own_group) {}
  child_guard(const child_guard&) = delete;
  child_guard& operator=(const child_guard&) = delete;
  child_guard(child_guard&&) = delete;
  child_guard& operator=(child_guard&&) = delete;
  ~child_guard() {
    if (reaped_) return;
    signal(SIGKILL);
    (void)reap();
  }

  /// The command, and its group when it has one of its own. Until it is
  /// reaped its pid (and so its group id) cannot be reused.
  void signal(int sig) const noexcept {
    if (own_group_) ::kill(-pid_, sig);
    ::kill(pid_, sig);
  }
  exit_status reap() noexcept {
    reaped_ = true;
    return procpool::detail::reap(pid_);
  }

 private:
  pid_t pid_;
  bool own_group_;
  bool reaped_ = false;
};

/// The command's output pipes while it runs.
struct output_pipes {
  unique_fd out;
  unique_fd err;
  bool out_open = true;
  bool err_open = true;
};

/// Reads the command's output until it exits (a zombie then, not reaped).
/// Once ctx asks to stop, sends SIGTERM and SIGKILL `stop_grace` later.
/// Returns true if the command was asked to stop.
bool pump_until_exit(pid_t pid, child_guard& guard, output_pipes& pipes, command_outcome& o,
                     const task_context* ctx, std::size_t max_output,
                     std::chrono::milliseconds stop_grace) {
  const unique_fd pidfd(procpool::detail::open_pidfd(pid));
  bool stopping = false;
  std::chrono::steady_clock::time_point kill_at{};
  constexpr int stop_check_ms = 100;
  for (;;) {
    std::array<pollfd, 3> fds{{{pipes.out_open ? pipes.out.get() : -1, POLLIN, 0},
                               {pipes.err_open ? pipes.err.get() : -1, POLLIN, 0},
                               {pidfd.get(), POLLIN, 0}}};
    int timeout = ctx != nullptr ? stop_check_ms : -1;
    if (!pidfd) timeout = 10;  // no pidfd: look with waitid(WNOHANG)
    if (stopping) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          kill_at - std::chrono::steady_clock::now());
      timeout = static_cast<int>(std::clamp<std::int64_t>(left.count() + 1, 0, stop_check_ms));
    }
    const int ready = ::poll(fds.data(), fds.size(), timeout);
    if (ready < 0 && errno != EINTR) throw_errno("poll");
    bool exited = false;
    if (ready > 0) {
      if (fds[0].revents != 0) pipes.out_open = drain(pipes.out.get(), o.out, max_output, o.truncated);
      if (fds[1].revents != 0) pipes.err_open = drain(pipes.err.get(), o.err, max_output, o.truncated);
      exited = fds[2].revents != 0;
    }
    if (!exited && !pidfd) {
      siginfo_t info{};
      exited = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
               info.si_pid == pid;
    }
    if (exited) return stopping;
    if (ctx != nullptr && !stopping && ctx->stop_requested()) {
      stopping = true;
      guard.signal(SIGTERM);
      kill_at = std::chrono::steady_clock::now() + stop_grace;
    } else if (stopping && std::chrono::steady_clock::now() >= kill_at) {
      guard.signal(SIGKILL);
      kill_at = std::chrono::steady_clock::time_point::max();
    }
  }
}

}  // namespace

void note_supervisor_process() noexcept { supervisor_pid.store(::getpid()); }
bool runs_in_supervisor_process() noexcept { return ::getpid() == supervisor_pid.load(); }

command_outcome run_command(const std::vector<std::string>& argv, const task_context* ctx,
                            std::size_t max_output, std::chrono::milliseconds stop_grace,
                            output_files files) {
  if (argv.empty()) throw command_not_started("exec: empty argv");
  const std::string path = resolve_program(argv[0]);
  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (const std::string& a : argv)
    cargv.push_back(const_cast<char*>(a.c_str()));  // NOLINT: execve's signature
  cargv.push_back(nullptr);

  const int null_raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_raw < 0) throw_errno("open /dev/null");
  unique_fd devnull = above_stdio(null_raw);
  // A stream with a file of its own goes straight there; the others through a pipe.
  auto [out_r, out_w] = files.out >= 0 ? std::pair<unique_fd, unique_fd>{} : make_pipe();
  auto [err_r, err_w] = files.err >= 0 ? std::pair<unique_fd, unique_fd>{} : make_pipe();
  auto [report_r, report_w] = make_pipe();

  // Thread mode runs in the command line process itself: give the command its
  // own process group. In a forked worker it stays in the worker's group.
  const child_plan plan{path.c_str(),
                        cargv.data(),
                        devnull.get(),
                        files.out >= 0 ? files.out : out_w.get(),
                        files.err >= 0 ? files.err : err_w.get(),
                        report_w.get(),
                        ::getpid(),
                        runs_in_supervisor_process()};
  // vfork: the child borrows our memory until execve (no page tables to copy,
  // which matters for a large parent); it runs only exec_child.
  auto child = [&plan]() noexcept { exec_child(plan); };
  const pid_t pid = procpool::detail::fork_with_signals_blocked(child, procpool::detail::fork_kind::vfork);
  if (pid < 0) throw_errno("vfork");
  if (plan.own_group) ::setpgid(pid, pid);  // both sides, so a group kill works at once
  child_guard guard(pid, plan.own_group);
  devnull.reset();
  out_w.reset();
  err_w.reset();
  report_w.reset();

  int child_errno = 0;
  ssize_t n = 0;
  do {
    n = ::read(report_r.get(), &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  report_r.reset();
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    (void)guard.reap();
    throw command_not_started("cannot run '" + argv[0] + "': " + std::strerror(child_errno));
  }

  if (out_r) ::fcntl(out_r.get(), F_SETFL, O_NONBLOCK);
  if (err_r) ::fcntl(err_r.get(), F_SETFL, O_NONBLOCK);
  const bool out_piped = static_cast<bool>(out_r);
  const bool err_piped = static_cast<bool>(err_r);
  output_pipes pipes{std::move(out_r), std::move(err_r), out_piped, err_piped};
  command_outcome o;
  const bool stopped = pump_until_exit(pid, guard, pipes, o, ctx, max_output, stop_grace);
  if (stopped && plan.own_group) ::kill(-pid, SIGKILL);  // whatever is left of its group
  o.status = guard.reap();
  // What the command wrote before it ended is in the pipes now. Output that
  // its own children write later is not waited for.
  if (pipes.out_open) (void)drain(pipes.out.get(), o.out, max_output, o.truncated);
  if (pipes.err_open) (void)drain(pipes.err.get(), o.err, max_output, o.truncated);
  if (stopped) {
    throw task_stopped("exec: '" + argv[0] + "' stopped on request (" + o.status.describe() + ")",
                       end_detail(o.status));
  }
  return o;
}

namespace {

std::atomic<std::size_t> max_output_bytes{default_max_output};

/// The first `limit` bytes of the file behind `fd` (written by the command),
/// and whether it holds more.
std::string file_head(int fd, std::size_t limit, bool& truncated) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw_errno("fstat");
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size > limit) truncated = true;
  std::string head(std::min(size, limit), '\0');
  std::size_t got = 0;
  while (got < head.size()) {
    const ssize_t n = ::pread(fd, head.data() + got, head.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the file shrank under us: keep what is there
    got += static_cast<std::size_t>(n);
  }
  head.resize(got);
  return head;
}

/// The failure message: how the command ended and the end of its stderr,
/// which says most about a failure.
std::string failure_message(const command_outcome& o) {
  std::string msg = o.status.describe();
  if (o.err.empty()) return msg;
  constexpr std::size_t tail = 2048;
  std::size_t from = o.err.size() > tail ? o.err.size() - tail : 0;
  while (from < o.err.size() && (static_cast<unsigned char>(o.err[from]) & 0xC0U) == 0x80U) {
    ++from;
  }
  msg += "; stderr: ";
  if (from > 0) msg += "...";
  std::string_view rest(o.err);
  rest.remove_prefix(from);
  while (!rest.empty() && (rest.back() == '\n' || rest.back() == '\r')) rest.remove_suffix(1);
  append_utf8_repaired(msg, rest);
  return msg;
}

}  // namespace

void set_exec_max_output(std::size_t bytes) noexcept { max_output_bytes = bytes; }
std::size_t exec_max_output() noexcept { return max_output_bytes.load(); }

nlohmann::json exec_value(const task_context& ctx, const std::vector<std::string>& argv) {
  const std::size_t limit = exec_max_output();
  command_outcome o;
  if (results_dir().empty()) {
    o = run_command(argv, &ctx, limit);
  } else {  // --results: the command writes into its files; the value keeps their heads
    const job_output_files f = open_job_output(ctx.tag());
    o = run_command(argv, &ctx, limit, std::chrono::milliseconds{1000}, {f.out.get(), f.err.get()});
    o.out = file_head(f.out.get(), limit, o.truncated);
    o.err = file_head(f.err.get(), limit, o.truncated);
  }
  const bool clean = o.status.clean();
  std::string message = clean ? std::string() : failure_message(o);
  nlohmann::json v = clean ? nlohmann::json::object() : end_detail(o.status);
  if (clean) v["exit_code"] = o.status.exit_code.value_or(0);
  // The bytes as the command wrote them: a JSON result line repairs what is not
  // UTF-8 when it is written; --stdout prints them unchanged.
  v["stdout"] = std::move(o.out);
  v["stderr"] = std::move(o.err);
  v["truncated"] = o.truncated;
  if (!clean) throw command_failed(message, std::move(v));
  return v;
}

}  // namespace procpool::cli::detail

namespace procpool::cli {

nlohmann::json end_detail(const procpool::detail::exit_status& status) {
  nlohmann::json d = nlohmann::json::object();
  if (status.exit_code) d["exit_code"] = *status.exit_code;
  if (status.signal) d["signal"] = *status.signal;
  return d;
}

}  // namespace procpool::cli
