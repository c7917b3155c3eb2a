// Runs a peer: another implementation doing a bench's work (Python's
// multiprocessing, a Boost.Asio thread pool, xargs), as a child process.
//
// A peer program prints its figures for one repetition as one JSON array of
// numbers on the last line of its stdout; its stderr passes through. The bench
// programs run a peer once per repetition, next to the matching procpool run,
// so both see the same load (see run_interleaved in harness.hpp).
#pragma once

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

extern char** environ;

namespace bench {

/// The path of the executable `name` as PATH finds it, or "" when there is
/// none (a peer whose interpreter is missing is skipped, not failed).
[[nodiscard]] inline std::string find_program(std::string_view name) {
  const char* path = std::getenv("PATH");
  std::string_view rest = path != nullptr ? path : "/usr/bin:/bin";
  while (!rest.empty()) {
    const std::size_t colon = rest.find(':');
    const std::string_view dir = rest.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
    const std::string candidate = std::string(dir.empty() ? "." : dir) + "/" + std::string(name);
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return {};
}

namespace detail {

/// Starts argv (argv[0] a path) with `fa` applied to the child's descriptors;
/// destroys `fa`. Throws if it cannot start.
[[nodiscard]] inline pid_t spawn(const std::vector<std::string>& argv, posix_spawn_file_actions_t& fa) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));  // posix_spawn's signature
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  ::posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::system_error(rc, std::generic_category(), "posix_spawn " + argv[0]);
  return pid;
}

/// Reaps `pid`; throws unless it exited 0 (a peer that failed its own checks).
inline void wait_ok(pid_t pid, const std::vector<std::string>& argv) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string cmd;
    for (const std::string& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    throw std::runtime_error("'" + cmd + "' failed (wait status " + std::to_string(status) + ")");
  }
}

}  // namespace detail

/// Runs argv (argv[0] a path) to completion with stdout captured; returns
/// what it wrote there. Throws if it cannot start or does not exit 0.
[[nodiscard]] inline std::string run_capturing(const std::vector<std::string>& argv) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
  posix_spawn_file_actions_t fa;
  ::posix_spawn_file_actions_init(&fa);
  ::posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);  // dup2 clears O_CLOEXEC
  pid_t pid = -1;
  try {
    pid = detail::spawn(argv, fa);
  } catch (...) {
    ::close(out[0]);
    ::close(out[1]);
    throw;
  }
  ::close(out[1]);  // so that read() sees end of file when the child exits
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n > 0) {
      text.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(out[0]);
  detail::wait_ok(pid, argv);
  return text;
}

/// Runs argv (argv[0] a path) to completion, its stdout to /dev/null, and
/// returns its wall time in seconds, start to reaped. Throws if it cannot start
/// or does not exit 0.
[[nodiscard]] inline double time_command(const std::vector<std::string>& argv) {
  posix_spawn_file_actions_t fa;
  ::posix_spawn_file_actions_init(&fa);
  ::posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  const auto t0 = std::chrono::steady_clock::now();
  detail::wait_ok(detail::spawn(argv, fa), argv);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// Runs a peer program and returns the numbers of the JSON array on the last
/// line of its stdout: its figures for one repetition.
[[nodiscard]] inline std::vector<double> run_peer(const std::vector<std::string>& argv) {
  std::string text = run_capturing(argv);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  const std::size_t nl = text.rfind('\n');
  const std::string last = nl == std::string::npos ? text : text.substr(nl + 1);
  const nlohmann::json j = nlohmann::json::parse(last, nullptr, /*allow_exceptions=*/false);
  if (!j.is_array() || j.empty()) throw std::runtime_error("peer " + argv[0] + " printed no figures: '" + last + "'");
  return j.get<std::vector<double>>();
}

/// Where the Python peer script lives: bench/peers/ in the source tree, as the
/// build recorded it (PROCPOOL_BENCH_PEERS_DIR).
#ifndef PROCPOOL_BENCH_PEERS_DIR
#error "PROCPOOL_BENCH_PEERS_DIR must name bench/peers (bench/CMakeLists.txt defines it)"
#endif

/// Python's multiprocessing.Pool doing one figure of bench/peers/mp_peer.py.
struct python_peer {
  std::string python = find_program("python3");  ///< "" when not installed

  /// Why this peer cannot run, or "" when it can.
  [[nodiscard]] std::string skip_reason() const { return python.empty() ? "python3 not found on PATH" : ""; }

  [[nodiscard]] std::vector<double> run(const std::string& figure, std::vector<std::string> extra) const {
    std::vector<std::string> argv = {python, std::string(PROCPOOL_BENCH_PEERS_DIR) + "/mp_peer.py", figure};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run_peer(argv);
  }
};

}  // namespace bench
