// Helpers of the fault-tolerance suite (tests/fault): process probes that read
// /proc, leak checks, a fixture that asserts I3 after every test, and
// assertions on handles and result maps.
//
// Builds on helpers/test_util.hpp (scaled timeouts, wait_until, FIFOs). Nothing
// here orders events with a sleep: every loop re-checks a condition until a
// deadline scaled by PROCPOOL_TEST_TIMEOUT_MULTIPLIER.
#pragma once

#include "test_util.hpp"

#include <procpool/procpool.hpp>

#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace procpool_fault {

using namespace std::chrono_literals;
using procpool::task_handle;
using procpool::task_state;
using procpool_test::scaled;
using procpool_test::open_fds;
using procpool_test::wait_until;

// ---------------------------------------------------------------------------
// /proc probes.

/// What /proc/<pid>/stat says about one process.
struct proc_stat {
  pid_t pid = 0;
  char state = '?';        ///< R, S, D, Z, X, ...
  pid_t ppid = 0;
  pid_t pgrp = 0;
  unsigned long long start_ticks = 0;  ///< field 22: start time since boot, in clock ticks
};

/// Parses /proc/<pid>/stat; nullopt if the process does not exist (any more).
[[nodiscard]] inline std::optional<proc_stat> read_proc_stat(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  // "pid (comm) S ppid pgrp ..." where comm may hold spaces and parentheses.
  const auto close = line.rfind(')');
  if (close == std::string::npos || close + 2 >= line.size()) return std::nullopt;
  std::istringstream rest(line.substr(close + 2));
  std::vector<std::string> f;
  std::string tok;
  while (rest >> tok) f.push_back(tok);
  // f[0] is field 3 (state), so field N is f[N - 3].
  if (f.size() < 20) return std::nullopt;
  proc_stat s;
  s.pid = pid;
  s.state = f[0].empty() ? '?' : f[0][0];
  s.ppid = static_cast<pid_t>(std::stol(f[1]));
  s.pgrp = static_cast<pid_t>(std::stol(f[2]));
  s.start_ticks = std::stoull(f[19]);
  return s;
}

/// A process remembered by pid and start time, so that a recycled pid is never
/// mistaken for it.
struct proc_id {
  pid_t pid = 0;
  unsigned long long start_ticks = 0;
};

/// Identifies `pid` now (nullopt if it does not exist).
[[nodiscard]] inline std::optional<proc_id> identify(pid_t pid) {
  const auto s = read_proc_stat(pid);
  if (!s) return std::nullopt;
  return proc_id{pid, s->start_ticks};
}

/// True once the process no longer runs: it is gone (kill(pid, 0) fails with
/// ESRCH), its pid now names another process, or it is a zombie waiting for
/// its (new) parent to reap it. A zombie runs no code and holds no resource
/// but its pid; orphans go to pid 1, which may reap them only after a while.
[[nodiscard]] inline bool is_dead(const proc_id& p) {
  if (::kill(p.pid, 0) != 0 && errno == ESRCH) return true;
  const auto s = read_proc_stat(p.pid);
  if (!s) return true;
  if (s->start_ticks != p.start_ticks) return true;
  return s->state == 'Z' || s->state == 'X';
}

/// SIGKILLs `p` if it still is the same live process (cleanup after a failed
/// check, so that a failing test does not leave processes behind).
inline void kill_if_alive(const proc_id& p) {
  if (!is_dead(p)) ::kill(p.pid, SIGKILL);
}

/// Every process on the machine that /proc shows, by parent.
[[nodiscard]] inline std::multimap<pid_t, proc_stat> processes_by_parent() {
  std::multimap<pid_t, proc_stat> out;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return out;
  while (const dirent* e = ::readdir(d)) {
    const char* n = e->d_name;
    if (*n < '0' || *n > '9') continue;
    char* end = nullptr;
    const long pid = std::strtol(n, &end, 10);
    if (end == nullptr || *end != '\0') continue;
    const auto s = read_proc_stat(static_cast<pid_t>(pid));
    if (s) out.emplace(s->ppid, *s);
  }
  ::closedir(d);
  return out;
}

/// Every descendant of `root` (children, their children, ...), alive or
/// zombie. Of this process: the pool's fork server (start_method::fork_server),
/// its workers, and whatever their tasks started, as long as nobody was
/// orphaned (an orphan is reparented to pid 1 and leaves the tree).
[[nodiscard]] inline std::vector<proc_stat> descendants(pid_t root = ::getpid()) {
  const auto by_parent = processes_by_parent();
  std::vector<proc_stat> out;
  std::vector<pid_t> todo{root};
  while (!todo.empty()) {
    const pid_t p = todo.back();
    todo.pop_back();
    const auto [first, last] = by_parent.equal_range(p);
    for (auto it = first; it != last; ++it) {
      out.push_back(it->second);
      todo.push_back(it->second.pid);
    }
  }
  return out;
}

/// The zombies among `procs`.
[[nodiscard]] inline std::vector<proc_stat> zombies(const std::vector<proc_stat>& procs) {
  std::vector<proc_stat> out;
  for (const auto& p : procs) {
    if (p.state == 'Z' || p.state == 'X') out.push_back(p);
  }
  return out;
}

/// Whether `pid` is a live (non-zombie) descendant of this process.
[[nodiscard]] inline bool is_live_descendant(pid_t pid) {
  const pid_t me = ::getpid();
  auto s = read_proc_stat(pid);
  if (!s || s->state == 'Z' || s->state == 'X') return false;
  for (int depth = 0; depth < 8 && s; ++depth) {
    if (s->ppid == me) return true;
    if (s->ppid <= 1) return false;
    s = read_proc_stat(s->ppid);
  }
  return false;
}

[[nodiscard]] inline std::string describe(const std::vector<proc_stat>& procs) {
  std::ostringstream os;
  for (const auto& p : procs) os << ' ' << p.pid << '(' << p.state << ')';
  return os.str();
}

/// Every name under /dev/shm.
[[nodiscard]] inline std::set<std::string> shm_listing() {
  std::set<std::string> out;
  DIR* d = ::opendir("/dev/shm");
  if (d == nullptr) return out;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") out.insert(name);
  }
  ::closedir(d);
  return out;
}

/// Whether `name` looks like it belongs to procpool or to one of `pids`
/// (segment names carry a prefix and the owner's pid, STYLE.md rule 21).
[[nodiscard]] inline bool shm_name_is_ours(const std::string& name, const std::vector<pid_t>& pids) {
  if (name.find("procpool") != std::string::npos) return true;
  for (const pid_t p : pids) {
    if (name.find(std::to_string(p)) != std::string::npos) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------
// A scratch directory removed with everything in it.

class scratch_dir {
 public:
  scratch_dir() {
    std::string templ = "/tmp/procpool-fault-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) {
      throw std::system_error(errno, std::generic_category(), "mkdtemp");
    }
    path_ = templ;
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
  scratch_dir(scratch_dir&&) = delete;
  scratch_dir& operator=(scratch_dir&&) = delete;
  ~scratch_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }

  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] std::string file(const std::string& name) const { return path_ + "/" + name; }

  /// A FIFO (mode 0600) in the directory, held open read-write and non-blocking
  /// by the test (see procpool_test::open_fifo_rw).
  struct fifo {
    std::string path;
    procpool_test::unique_fd fd;
  };
  [[nodiscard]] fifo make_fifo(const std::string& name) const {
    fifo f;
    f.path = file(name);
    if (::mkfifo(f.path.c_str(), 0600) != 0) {
      throw std::system_error(errno, std::generic_category(), "mkfifo " + f.path);
    }
    f.fd = procpool_test::open_fifo_rw(f.path, /*nonblocking=*/true);
    return f;
  }

 private:
  std::string path_;
};

[[nodiscard]] inline bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

/// Reads "<a> <b> ...\n" lines of pids written by tasks into a FIFO.
[[nodiscard]] inline std::optional<std::vector<pid_t>> read_pid_line(
    const procpool_test::unique_fd& fd, std::chrono::milliseconds timeout) {
  const auto line = procpool_test::read_line(fd, timeout);
  if (!line) return std::nullopt;
  std::istringstream in(*line);
  std::vector<pid_t> pids;
  long p = 0;
  while (in >> p) pids.push_back(static_cast<pid_t>(p));
  return pids;
}

// ---------------------------------------------------------------------------
// Assertions on handles and result maps.

[[nodiscard]] inline bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

[[nodiscard]] inline std::string describe(const procpool::result& r) {
  std::ostringstream os;
  os << "tag '" << r.tag << "' " << procpool::to_string(r.state);
  if (!r.error_type.empty() || !r.error_message.empty()) {
    os << " (" << r.error_type << ": " << r.error_message << ")";
  }
  if (r.exit_code) os << " exit_code=" << *r.exit_code;
  if (r.signal) os << " signal=" << *r.signal;
  os << " attempts=" << r.attempts;
  return os.str();
}

/// The handle becomes ready within scaled(timeout) and ends in `state`.
[[nodiscard]] inline ::testing::AssertionResult ends_in(const task_handle& h, task_state state,
                                                        std::chrono::milliseconds timeout = 30s) {
  if (!h.valid()) return ::testing::AssertionFailure() << "empty handle";
  if (!h.wait_for(scaled(timeout))) {
    return ::testing::AssertionFailure() << "tag '" << h.tag() << "' not ready after "
                                         << scaled(timeout).count() << " ms; state "
                                         << procpool::to_string(h.state());
  }
  const procpool::result r = h.result();
  if (r.state != state) {
    return ::testing::AssertionFailure()
           << describe(r) << ", expected " << procpool::to_string(state);
  }
  return ::testing::AssertionSuccess();
}

/// The handle ends done with `expected` within scaled(timeout).
[[nodiscard]] inline ::testing::AssertionResult ends_done(const task_handle& h,
                                                          const nlohmann::json& expected,
                                                          std::chrono::milliseconds timeout = 30s) {
  auto ok = ends_in(h, task_state::done, timeout);
  if (!ok) return ok;
  const procpool::result r = h.result();
  if (r.value != expected) {
    return ::testing::AssertionFailure()
           << "tag '" << r.tag << "' value " << r.value.dump() << ", expected " << expected.dump();
  }
  return ::testing::AssertionSuccess();
}

/// How many results are in each state.
[[nodiscard]] inline std::map<task_state, std::size_t> count_states(
    const std::map<std::string, procpool::result>& all) {
  std::map<task_state, std::size_t> n;
  for (const auto& [tag, r] : all) ++n[r.state];
  return n;
}

[[nodiscard]] inline std::string describe(const std::map<task_state, std::size_t>& counts) {
  std::ostringstream os;
  for (const auto& [s, n] : counts) os << ' ' << procpool::to_string(s) << '=' << n;
  return os.str();
}

/// I1: `all` holds exactly the tags in `submitted`, each under its own tag and
/// in a terminal state.
[[nodiscard]] inline ::testing::AssertionResult every_tag_once(
    const std::map<std::string, procpool::result>& all, const std::set<std::string>& submitted) {
  if (all.size() != submitted.size()) {
    return ::testing::AssertionFailure()
           << all.size() << " results for " << submitted.size() << " submitted tags";
  }
  for (const auto& [tag, r] : all) {
    if (submitted.count(tag) == 0) return ::testing::AssertionFailure() << "unknown tag " << tag;
    if (r.tag != tag) {
      return ::testing::AssertionFailure() << "result under '" << tag << "' names '" << r.tag << "'";
    }
    if (!procpool::is_terminal(r.state)) {
      return ::testing::AssertionFailure() << describe(r) << ": not terminal";
    }
  }
  return ::testing::AssertionSuccess();
}

/// I2: a canary submitted now ends done.
[[nodiscard]] inline ::testing::AssertionResult canary_done(procpool::pool& pool,
                                                            const std::string& tag = "canary") {
  try {
    const task_handle h = pool.submit(tag, "square", 12);
    return ends_done(h, 144, 30s);
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "canary refused: " << e.what();
  }
}

/// The process-mode options most tests start from.
[[nodiscard]] inline procpool::options process_opts(
    int workers, procpool::start_method start = procpool::options{}.start) {
  procpool::options o;
  o.mode = procpool::mode::process;
  o.start = start;
  o.workers = workers;
  return o;
}

[[nodiscard]] inline const char* to_string(procpool::start_method m) noexcept {
  switch (m) {
    case procpool::start_method::fork_server: return "fork_server";
    case procpool::start_method::fork: return "fork";
    case procpool::start_method::spawn: return "spawn";
  }
  return "?";
}

// ---------------------------------------------------------------------------
// A hang watchdog: SIGALRM a little before ctest's TIMEOUT would kill the test,
// naming the test and saying that a call never returned. (A timer, not a
// thread: the supervisor-death tests fork, and an alarm is not inherited.)

namespace detail {
inline char watchdog_message[512] = {};
inline std::size_t watchdog_message_len = 0;

inline void watchdog_fired(int /*sig*/) {
  [[maybe_unused]] const ssize_t n = ::write(2, watchdog_message, watchdog_message_len);
  ::_exit(124);
}
}  // namespace detail

/// Arms the watchdog for `seconds` (scaled by the multiplier); 0 disarms it.
inline void arm_watchdog(unsigned seconds) {
  if (seconds == 0) {
    ::alarm(0);
    return;
  }
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string text = std::string("\nwatchdog: ") + (info ? info->test_suite_name() : "?") +
                           "." + (info ? info->name() : "?") + " still running after " +
                           std::to_string(seconds) +
                           " s: a call that must return never did (a hang); exiting\n";
  const std::size_t n = std::min(text.size(), sizeof detail::watchdog_message - 1);
  std::memcpy(detail::watchdog_message, text.data(), n);
  detail::watchdog_message_len = n;
  struct sigaction sa {};
  sa.sa_handler = detail::watchdog_fired;
  ::sigaction(SIGALRM, &sa, nullptr);
  ::alarm(seconds);
}

// ---------------------------------------------------------------------------
// The fixture: every test ends by checking I3 once its pools are gone.

class FaultTest : public ::testing::Test {
 protected:
  /// The watchdog's limit before scaling: below the ctest TIMEOUT of the suite
  /// (90 s; the soak overrides it below its 120 s).
  [[nodiscard]] virtual unsigned watchdog_seconds() const { return 80; }

  void SetUp() override {
    arm_watchdog(static_cast<unsigned>(static_cast<double>(watchdog_seconds()) *
                                       procpool_test::timeout_multiplier()));
    fds_before_ = open_fds();
    shm_before_ = shm_listing();
  }

  void TearDown() override {
    expect_nothing_leaked();
    arm_watchdog(0);
  }

  /// I3 for this process: no descendant (alive or zombie) once every pool is
  /// gone, nothing left to reap, no new descriptor, no new procpool name in
  /// /dev/shm.
  void expect_nothing_leaked() {
    std::vector<proc_stat> kids;
    const bool none = wait_until(
        [&] {
          kids = descendants();
          return kids.empty();
        },
        5s);
    EXPECT_TRUE(none) << "processes left after the pools were gone:" << describe(kids);
    errno = 0;
    const pid_t w = ::waitpid(-1, nullptr, WNOHANG);
    const int werr = errno;
    EXPECT_TRUE(w == -1 && werr == ECHILD)
        << "waitpid(-1, WNOHANG) returned " << w << " (errno " << werr
        << "): a child of this process is still there";

    for (const auto& [fd, target] : open_fds()) {
      const auto it = fds_before_.find(fd);
      if (it == fds_before_.end()) {
        ADD_FAILURE() << "descriptor " << fd << " (" << target << ") leaked";
      }
    }
    const std::vector<pid_t> me{::getpid()};
    for (const auto& name : shm_listing()) {
      if (shm_before_.count(name) == 0 && shm_name_is_ours(name, me)) {
        ADD_FAILURE() << "/dev/shm/" << name << " left behind";
      }
    }
  }

 private:
  std::map<int, std::string> fds_before_;
  std::set<std::string> shm_before_;
};

/// A process start method as a test parameter; printed by name, so ctest
/// names the cases StartMethod/<Suite>.<Case>/<fork_server|fork|spawn>.
struct start_param {
  procpool::start_method value;
};
inline void PrintTo(const start_param& p, std::ostream* os) { *os << to_string(p.value); }

/// The same cases for every process start method.
class StartMethodTest : public FaultTest, public ::testing::WithParamInterface<start_param> {
 protected:
  [[nodiscard]] static procpool::start_method start() { return GetParam().value; }
  [[nodiscard]] static procpool::options opts(int workers) { return process_opts(workers, start()); }
};

#define PROCPOOL_FAULT_FOR_EVERY_START_METHOD(suite)                                       \
  INSTANTIATE_TEST_SUITE_P(                                                                \
      StartMethod, suite,                                                                  \
      ::testing::Values(::procpool_fault::start_param{procpool::start_method::fork_server}, \
                        ::procpool_fault::start_param{procpool::start_method::fork},        \
                        ::procpool_fault::start_param{procpool::start_method::spawn}))

/// Sets PROCPOOL_FAULT_INJECT=<point>:<marker> for this scope. Set it before the
/// pool exists (forked workers inherit the environment); the scope must outlive
/// the pool, so that no thread of the pool runs while the environment changes.
class fault_injection_env {
 public:
  fault_injection_env(const std::string& point, const std::string& marker) {
    const std::string v = point + ":" + marker;
    ::setenv("PROCPOOL_FAULT_INJECT", v.c_str(), 1);
  }
  fault_injection_env(const fault_injection_env&) = delete;
  fault_injection_env& operator=(const fault_injection_env&) = delete;
  fault_injection_env(fault_injection_env&&) = delete;
  fault_injection_env& operator=(fault_injection_env&&) = delete;
  ~fault_injection_env() { ::unsetenv("PROCPOOL_FAULT_INJECT"); }
};

}  // namespace procpool_fault
