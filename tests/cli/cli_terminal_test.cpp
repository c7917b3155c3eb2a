// `procpool run` on a real terminal (a pseudo-terminal 40 columns wide, stdout
// and stderr both on it): the progress line fits the width (a wider one would
// wrap, and each redraw would then start a new line), and every result line
// starts on a wiped line instead of being glued onto the progress line's tail.
// Jobs block on FIFOs that the test opens once the progress line is on screen.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "cli_test_util.hpp"

namespace {

using procpool_cli_test::scaled;
using procpool_cli_test::temp_dir;
using namespace std::chrono_literals;

constexpr unsigned short columns = 40;

/// procpool started on a new pseudo-terminal; the test reads the screen's bytes.
class on_terminal {
 public:
  on_terminal(const temp_dir& dir, const std::vector<std::string>& args) {
    winsize ws{};
    ws.ws_row = 24;
    ws.ws_col = columns;
    int slave = -1;
    if (::openpty(&master_, &slave, nullptr, nullptr, &ws) != 0) throw std::runtime_error("openpty");
    termios t{};
    ::tcgetattr(slave, &t);
    ::cfmakeraw(&t);  // the bytes as written: no "\n" -> "\r\n"
    ::tcsetattr(slave, TCSANOW, &t);
    std::vector<std::string> argv_s = {procpool_cli_test::procpool_exe()};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, slave, 1);
    posix_spawn_file_actions_adddup2(&fa, slave, 2);
    posix_spawn_file_actions_addclose(&fa, master_);
    posix_spawn_file_actions_addchdir_np(&fa, dir.path().c_str());
    const int rc = ::posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(slave);
    if (rc != 0) throw std::runtime_error(std::string("posix_spawn: ") + std::strerror(rc));
  }
  on_terminal(const on_terminal&) = delete;
  on_terminal& operator=(const on_terminal&) = delete;
  on_terminal(on_terminal&&) = delete;
  on_terminal& operator=(on_terminal&&) = delete;
  ~on_terminal() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(master_);
  }

  /// Reads until `text` is on screen (true) or the terminal closes or the
  /// deadline passes (false).
  bool read_until(std::string_view text, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (screen_.find(text) == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !read_some_(static_cast<int>(left.count()))) return false;
    }
    return true;
  }

  /// Reads to the end and reaps procpool: its exit code, -1 past the deadline.
  int finish(std::chrono::milliseconds timeout) {
    (void)read_until("\x01never\x01", timeout);
    int status = 0;
    if (::waitpid(pid_, &status, 0) != pid_) return -1;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  [[nodiscard]] const std::string& screen() const noexcept { return screen_; }

 private:
  // False at the end of the terminal (EIO once procpool and its jobs closed it).
  bool read_some_(int timeout_ms) {
    pollfd p{master_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return false;
    char buf[4096];
    const ssize_t n = ::read(master_, buf, sizeof buf);
    if (n <= 0) return errno == EINTR;
    screen_.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  int master_ = -1;
  pid_t pid_ = -1;
  std::string screen_;
};

TEST(TerminalExec, ProgressFitsAndResultLinesStartOnAWipedLine) {
  temp_dir dir;
  const auto fifos = procpool_cli_test::make_fifos(dir, {"f1", "f2", "f3"});
  on_terminal t(dir, {"run", "-j", "1", "--max-queue", "1", "--", "cat", ":::", "f1", "f2", "f3"});
  ASSERT_TRUE(t.read_until("\rprocpool", scaled(30s))) << t.screen();
  for (const std::string& f : fifos) procpool_cli_test::release(f);
  ASSERT_EQ(t.finish(scaled(60s)), 0) << t.screen();
  const std::string& s = t.screen();

  // Each progress draw is "\r" + a line narrower than the terminal.
  std::size_t draws = 0;
  for (std::size_t at = s.find("\rprocpool"); at != std::string::npos; at = s.find("\rprocpool", at + 1)) {
    const std::size_t end = s.find_first_of("\r\n", at + 1);
    EXPECT_LT((end == std::string::npos ? s.size() : end) - at - 1, columns) << s.substr(at, 80);
    ++draws;
  }
  EXPECT_GT(draws, 0U);
  // Every result line starts a line: at the very start, after "\n", or after
  // a wipe ("\r", blanks at least as wide as what was on the line, "\r").
  std::size_t results = 0;
  for (std::size_t at = s.find("{\"tag\""); at != std::string::npos; at = s.find("{\"tag\"", at + 1)) {
    ++results;
    if (at == 0 || s[at - 1] == '\n') continue;
    ASSERT_EQ(s[at - 1], '\r') << "glued onto: " << s.substr(at > 60 ? at - 60 : 0, 70);
    const std::size_t wipe = s.rfind('\r', at - 2);
    ASSERT_NE(wipe, std::string::npos);
    const std::string blanks = s.substr(wipe + 1, at - 1 - wipe - 1);
    EXPECT_EQ(blanks.find_first_not_of(' '), std::string::npos) << "not wiped: " << blanks;
    const std::size_t drawn = s.rfind('\r', wipe - 1);
    if (drawn != std::string::npos) {
      EXPECT_GE(blanks.size(), wipe - drawn - 1);
    }
  }
  EXPECT_EQ(results, 3U) << s;
}

}  // namespace
