// Helpers of the command-line tests: run the built `procpool` binary with
// posix_spawn, feed it a file or a pipe, collect stdout/stderr, its exit status
// and peak memory, all under deadlines (nothing here orders events by sleeping).
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX declares it nowhere

namespace procpool_cli_test {

using json = nlohmann::json;
using namespace std::chrono_literals;

#ifndef PROCPOOL_CLI_EXE
#error "PROCPOOL_CLI_EXE (the path of the procpool binary) must be defined"
#endif

inline std::string procpool_exe() { return PROCPOOL_CLI_EXE; }

/// PROCPOOL_TEST_TIMEOUT_MULTIPLIER (default 1) stretches every deadline.
inline std::chrono::milliseconds scaled(std::chrono::milliseconds d) {
  double m = 1.0;
  if (const char* t = std::getenv("PROCPOOL_TEST_TIMEOUT_MULTIPLIER"); t != nullptr && *t != '\0') {
    char* end = nullptr;
    const double v = std::strtod(t, &end);
    if (end != t && v > 0) m = v;
  }
  return std::chrono::milliseconds{static_cast<std::int64_t>(static_cast<double>(d.count()) * m)};
}

/// A fresh directory, removed with its contents on destruction.
class temp_dir {
 public:
  temp_dir() {
    std::string t = (std::filesystem::temp_directory_path() / "procpool-cli-XXXXXX").string();
    if (::mkdtemp(t.data()) == nullptr)
      throw std::system_error(errno, std::generic_category(), "mkdtemp");
    path_ = t;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  temp_dir(temp_dir&&) = delete;
  temp_dir& operator=(temp_dir&&) = delete;
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  [[nodiscard]] std::string path() const { return path_.string(); }
  [[nodiscard]] std::string file(std::string_view name) const { return (path_ / name).string(); }
  std::string write(std::string_view name, std::string_view content) const {
    const std::string p = file(name);
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f.write(content.data(), static_cast<std::streamsize>(content.size()));
    if (!f) throw std::runtime_error("cannot write " + p);
    return p;
  }

 private:
  std::filesystem::path path_;
};

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

inline bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

/// A running procpool child with pipes to its stdout and stderr, and to its
/// stdin when started with stdin_pipe.
class child {
 public:
  struct options {
    std::optional<std::string> stdin_file;  ///< else /dev/null, unless stdin_pipe
    bool stdin_pipe = false;
    std::string cwd;               ///< empty: inherit
    std::vector<std::string> env;  ///< extra "NAME=value" entries
    std::string exe;               ///< empty: the built `procpool`
  };

  child(const std::vector<std::string>& args, const options& o) {
    std::vector<std::string> argv_s;
    argv_s.push_back(o.exe.empty() ? procpool_exe() : o.exe);
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);

    int out[2];
    int err[2];
    int in[2] = {-1, -1};
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) throw_errno("pipe2");
    if (o.stdin_pipe && ::pipe2(in, O_CLOEXEC) != 0) throw_errno("pipe2");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (o.stdin_pipe) {
      posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    } else {
      posix_spawn_file_actions_addopen(&fa, 0, o.stdin_file ? o.stdin_file->c_str() : "/dev/null",
                                       O_RDONLY, 0);
    }
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    if (!o.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, o.cwd.c_str());
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    sigset_t all_default;
    sigemptyset(&all_default);
    sigaddset(&all_default, SIGPIPE);
    sigaddset(&all_default, SIGINT);
    sigaddset(&all_default, SIGTERM);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all_default);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    std::vector<std::string> env_s = o.env;
    for (char** e = environ; *e != nullptr; ++e) env_s.emplace_back(*e);  // ours come first
    std::vector<char*> envp;
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);
    const int rc = ::posix_spawn(&pid_, argv[0], &fa, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    ::close(out[1]);
    ::close(err[1]);
    if (o.stdin_pipe) ::close(in[0]);
    if (rc != 0) throw std::system_error(rc, std::generic_category(), "posix_spawn");
    out_fd_ = out[0];
    err_fd_ = err[0];
    in_fd_ = in[1];
    ::fcntl(out_fd_, F_SETFL, O_NONBLOCK);
    ::fcntl(err_fd_, F_SETFL, O_NONBLOCK);
  }
  child(const child&) = delete;
  child& operator=(const child&) = delete;
  child(child&&) = delete;
  child& operator=(child&&) = delete;
  ~child() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      int st = 0;
      ::waitpid(pid_, &st, 0);
    }
    for (int fd : {out_fd_, err_fd_, in_fd_}) {
      if (fd >= 0) ::close(fd);
    }
  }

  [[nodiscard]] pid_t pid() const { return pid_; }

  /// Writes to the child's stdin (stdin_pipe).
  void write_stdin(std::string_view data) {
    std::size_t off = 0;
    while (off < data.size()) {
      const ssize_t n = ::write(in_fd_, data.data() + off, data.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw_errno("write to the child's stdin");
      }
      off += static_cast<std::size_t>(n);
    }
  }
  void close_stdin() {
    if (in_fd_ >= 0) ::close(in_fd_);
    in_fd_ = -1;
  }
  void close_stdout() {
    if (out_fd_ >= 0) ::close(out_fd_);
    out_fd_ = -1;
  }

  void signal(int sig) const { ::kill(pid_, sig); }

  /// The next complete stdout line (without "\n"), or nullopt at the deadline/EOF.
  std::optional<std::string> next_out_line(std::chrono::milliseconds timeout) {
    return next_line_(out_fd_, out_, out_eof_, timeout);
  }
  /// Reads stderr until it contains `text`; false at the deadline or EOF.
  bool wait_err_contains(std::string_view text, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + scaled(timeout);
    while (err_.find(text) == std::string::npos) {
      if (err_eof_ || std::chrono::steady_clock::now() >= deadline) return false;
      pump_(deadline, false);
    }
    return true;
  }

  struct outcome {
    bool finished = false;  ///< false: killed at the deadline
    int exit_code = -1;
    int signal = 0;
    std::string out;  ///< what was not already taken by next_out_line
    std::string err;
    long max_rss_kb = 0;
  };

  /// Reads stdout and stderr to EOF and reaps the child; SIGKILLs it at the deadline.
  outcome wait(std::chrono::milliseconds timeout = 60s) {
    const auto deadline = std::chrono::steady_clock::now() + scaled(timeout);
    outcome o;
    bool killed = false;
    for (;;) {
      if ((out_eof_ || out_fd_ < 0) && err_eof_) break;
      if (std::chrono::steady_clock::now() >= deadline) {
        ::kill(pid_, SIGKILL);
        killed = true;
        break;
      }
      pump_(deadline, true);
    }
    int st = 0;
    rusage ru{};
    while (::wait4(pid_, &st, 0, &ru) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    o.finished = !killed;
    if (WIFEXITED(st)) o.exit_code = WEXITSTATUS(st);
    if (WIFSIGNALED(st)) o.signal = WTERMSIG(st);
    o.max_rss_kb = ru.ru_maxrss;
    o.out = std::move(out_);
    o.err = std::move(err_);
    return o;
  }

 private:
  [[noreturn]] static void throw_errno(const char* what) {
    throw std::system_error(errno, std::generic_category(), what);
  }

  void pump_(std::chrono::steady_clock::time_point deadline, bool both) {
    pollfd fds[2] = {{out_eof_ ? -1 : out_fd_, POLLIN, 0}, {err_eof_ ? -1 : err_fd_, POLLIN, 0}};
    if (!both) fds[0].fd = -1;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    const int n = ::poll(fds, 2, static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 100)));
    if (n <= 0) return;
    if (fds[0].fd >= 0 && fds[0].revents != 0) drain_(out_fd_, out_, out_eof_);
    if (fds[1].fd >= 0 && fds[1].revents != 0) drain_(err_fd_, err_, err_eof_);
  }

  static void drain_(int fd, std::string& into, bool& eof) {
    char buf[65536];
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n > 0) {
        into.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0) eof = true;
      if (n < 0 && errno == EINTR) continue;
      return;
    }
  }

  std::optional<std::string> next_line_(int fd, std::string& buf, bool& eof,
                                        std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + scaled(timeout);
    for (;;) {
      if (const auto nl = buf.find('\n'); nl != std::string::npos) {
        std::string line = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        return line;
      }
      if (eof || std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      pollfd p{fd, POLLIN, 0};
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (::poll(&p, 1, static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 100))) > 0) {
        drain_(fd, buf, eof);
      }
      // stderr must not fill up its pipe while we wait on stdout.
      drain_(err_fd_, err_, err_eof_);
    }
  }

  pid_t pid_ = -1;
  bool reaped_ = false;
  int out_fd_ = -1;
  int err_fd_ = -1;
  int in_fd_ = -1;
  std::string out_;
  std::string err_;
  bool out_eof_ = false;
  bool err_eof_ = false;
};

/// Runs `procpool args...` with `input` (written to a file in `dir`) as stdin.
inline child::outcome run_procpool(const temp_dir& dir, const std::vector<std::string>& args,
                                   std::string_view input,
                                   std::chrono::milliseconds timeout = 60s) {
  child::options o;
  o.stdin_file = dir.write("stdin.jsonl", input);
  o.cwd = dir.path();
  child c(args, o);
  return c.wait(timeout);
}

/// Splits text into lines (a last line without "\n" counts).
inline std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) {
      out.emplace_back(text.substr(start));
      break;
    }
    out.emplace_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

/// Every stdout line parsed as JSON (a line that is not JSON fails the test).
inline std::vector<json> results_of(std::string_view out) {
  std::vector<json> v;
  for (const std::string& l : lines_of(out)) {
    json j = json::parse(l, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "output line is not JSON: " << l;
    EXPECT_TRUE(j.is_object()) << l;
    v.push_back(std::move(j));
  }
  return v;
}

/// The result lines by input line number.
inline std::map<std::int64_t, json> by_line(const std::vector<json>& results) {
  std::map<std::int64_t, json> m;
  for (const json& r : results) {
    const auto line = r.at("line").get<std::int64_t>();
    EXPECT_EQ(m.count(line), 0U) << "two result lines for input line " << line;
    m[line] = r;
  }
  return m;
}

/// The result lines by tag (tags must be unique in `results`).
inline std::map<std::string, json> by_tag(const std::vector<json>& results) {
  std::map<std::string, json> m;
  for (const json& r : results) {
    if (!r.at("tag").is_string()) continue;
    const auto tag = r.at("tag").get<std::string>();
    EXPECT_EQ(m.count(tag), 0U) << "two result lines for tag " << tag;
    m[tag] = r;
  }
  return m;
}

/// One task line.
inline std::string task_line(std::string_view tag, std::string_view task, const json& args) {
  json j = {{"tag", tag}, {"task", task}, {"args", args}};
  return j.dump() + "\n";
}

/// A FIFO per name in `dir`: a job that opens one (`cat FIFO`) blocks until
/// the test releases it, which keeps it running without any sleep.
inline std::vector<std::string> make_fifos(const temp_dir& dir, const std::vector<std::string>& names) {
  std::vector<std::string> paths;
  for (const std::string& n : names) {
    paths.push_back(dir.file(n));
    EXPECT_EQ(::mkfifo(paths.back().c_str(), 0600), 0) << std::strerror(errno);
  }
  return paths;
}

/// Lets the job reading `fifo` go on: opening it for writing returns once the
/// job has opened it for reading; closing it gives the job end of file.
inline void release(const std::string& fifo) {
  const int fd = ::open(fifo.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  ::close(fd);
}

}  // namespace procpool_cli_test
