#include <procpool/shared/error.hpp>
#include "backend/worker_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

namespace procpool::detail {
namespace {

// The server's protocol: fixed messages of four int32 {kind, pid, value, index}
// on a SOCK_SEQPACKET pair.
//   supervisor -> server: start {index}, watch {pid}, unwatch {pid}, reap {pid}
//   server -> supervisor: started {pid, errno, index} (+ the pidfd),
//                         exited {pid, value, how} (a zombie: not reaped yet),
//                         reaped {pid, value, how} (the answer to reap)
enum : std::int32_t {
  msg_start = 1,
  msg_started = 2,
  msg_exited = 3,
  msg_watch = 4,
  msg_unwatch = 5,
  msg_reap = 6,
  msg_reaped = 7,
};

/// How an exit status travels: `value` is the exit code or the signal, the
/// index field says which.
enum : std::uint32_t { end_exited = 0, end_killed = 1, end_unknown = 2 };

/// Sends one message, with `fd` attached (SCM_RIGHTS) when it is >= 0.
bool send_msg(int sock, std::int32_t kind, std::int32_t pid, std::int32_t value, std::uint32_t index,
              int fd = -1) noexcept {
  std::int32_t m[4] = {kind, pid, value, static_cast<std::int32_t>(index)};
  iovec iov{m, sizeof m};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr h{};
  h.msg_iov = &iov;
  h.msg_iovlen = 1;
  if (fd >= 0) {
    h.msg_control = control;
    h.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&h);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  for (;;) {
    const ssize_t n = ::sendmsg(sock, &h, MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(sizeof m)) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

bool send_status(int sock, std::int32_t kind, pid_t pid, const exit_status& s) noexcept {
  if (s.signal) return send_msg(sock, kind, pid, *s.signal, end_killed);
  return send_msg(sock, kind, pid, s.exit_code.value_or(-1), s.exit_code ? end_exited : end_unknown);
}

exit_status status_from(std::int32_t value, std::uint32_t how) noexcept {
  exit_status s;
  if (how == end_killed) {
    s.signal = value;
  } else {
    s.exit_code = how == end_exited ? value : -1;
  }
  return s;
}

/// The server process: single-threaded; the only blocking call is poll().
///
/// It reaps a worker only when the supervisor asks (reap, sent by wait_exit).
/// Until then an exited worker stays a zombie, so its pid, which is also its
/// process group, cannot be reused: the supervisor may signal both safely.
class server {
 public:
  server(int sock, int sfd, const worker_config& base) noexcept
      : sock_(sock), sfd_(sfd), base_(base), self_(::getpid()) {}

  [[noreturn]] void run() noexcept {
    for (;;) {
      pollfd fds[2] = {{sock_, POLLIN, 0}, {sfd_, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      // Exits first: a reap request that arrives with them finds them noted.
      if ((fds[1].revents & POLLIN) != 0) on_sigchld();
      if (fds[0].revents != 0 && !on_message()) break;
    }
    shutdown();
  }

 private:
  struct child {
    pid_t pid;
    bool forked;         ///< ours (else a worker the pool started, watched only)
    bool exit_reported;  ///< `exited` was sent
    bool reap_wanted;    ///< the supervisor asked to reap it
  };

  /// The exit status of child `pid` if it has exited, without reaping it.
  static std::optional<exit_status> peek_exit(pid_t pid) noexcept {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
        info.si_pid != pid) {
      return std::nullopt;
    }
    return decode_child_info(info);
  }

  void on_sigchld() noexcept {
    signalfd_siginfo si{};
    while (::read(sfd_, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
    }
    // Signals coalesce: look at every child, not one per SIGCHLD.
    for (std::size_t i = 0; i < children_.size();) {
      child& c = children_[i];
      const std::optional<exit_status> st = c.forked ? peek_exit(c.pid) : std::nullopt;
      if (st && c.reap_wanted) {
        finish(i);
        continue;
      }
      if (st && !c.exit_reported) {
        c.exit_reported = true;
        send_status(sock_, msg_exited, c.pid, *st);
      }
      ++i;
    }
  }

  /// Kills what the worker left in its process group (while the zombie still
  /// holds the group id), reaps it and answers the reap request.
  void finish(std::size_t i) noexcept {
    const pid_t pid = children_[i].pid;
    children_.erase(children_.begin() + static_cast<std::ptrdiff_t>(i));
    ::killpg(pid, SIGKILL);
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    send_status(sock_, msg_reaped, pid, decode_wait_status(st));
  }

  void on_reap(pid_t pid) noexcept {
    const auto it = std::find_if(children_.begin(), children_.end(),
                                 [&](const child& c) { return c.pid == pid && c.forked; });
    if (it == children_.end()) {
      // Not ours (or reaped already): answer at once, the supervisor must not wait.
      exit_status unknown;
      send_status(sock_, msg_reaped, pid, unknown);
      return;
    }
    it->reap_wanted = true;
    if (peek_exit(pid)) finish(static_cast<std::size_t>(it - children_.begin()));
    // else: reaped on its SIGCHLD
  }

  /// One request from the supervisor; false once it is gone.
  bool on_message() noexcept {
    std::int32_t m[4] = {0, 0, 0, 0};
    const ssize_t n = ::recv(sock_, m, sizeof m, 0);
    if (n < 0 && errno == EINTR) return true;
    if (n != static_cast<ssize_t>(sizeof m)) return false;
    switch (m[0]) {
      case msg_watch: children_.push_back({m[1], false, false, false}); break;
      case msg_unwatch:
        std::erase_if(children_, [&](const child& c) { return c.pid == m[1] && !c.forked; });
        break;
      case msg_reap: on_reap(m[1]); break;
      case msg_start: start_worker(static_cast<std::uint32_t>(m[3])); break;
      default: break;
    }
    return true;
  }

  void start_worker(std::uint32_t index) noexcept {
    worker_config cfg = base_;
    cfg.index = index;
    int gate[2] = {-1, -1};
    if (::pipe2(gate, O_CLOEXEC) != 0) {
      send_msg(sock_, msg_started, -1, errno, index);
      return;
    }
    // Single-threaded here, but a worker must not run the server's handlers
    // either: it starts with every signal blocked, like every other fork.
    const pid_t self = self_;
    auto body = [&]() noexcept {
      ::close(gate[1]);
      become_worker(std::move(cfg), self, gate[0]);
    };
    const pid_t pid = fork_with_signals_blocked(body);
    int err = errno;
    ::close(gate[0]);
    int pidfd = -1;
    if (pid > 0) {
      ::setpgid(pid, pid);
      children_.push_back({pid, true, false, false});
      // Opened here, while the worker is our unreaped child: the pidfd names it
      // for as long as the supervisor holds it.
      pidfd = open_pidfd(pid);
      err = errno;
      if (pidfd < 0) {
        ::kill(pid, SIGKILL);  // still at the gate: it ran nothing; its exit report follows
      } else {
        const char go = 1;
        [[maybe_unused]] const ssize_t w = ::write(gate[1], &go, 1);
      }
    }
    ::close(gate[1]);
    if (pidfd >= 0) {
      send_msg(sock_, msg_started, pid, 0, index, pidfd);
      ::close(pidfd);
    } else {
      send_msg(sock_, msg_started, -1, err, index);
    }
  }

  /// The supervisor went away: take every worker (and its process group) along.
  [[noreturn]] void shutdown() noexcept {
    for (const child& c : children_) {
      ::killpg(c.pid, SIGKILL);
      ::kill(c.pid, SIGKILL);
    }
    while (::waitpid(-1, nullptr, 0) > 0 || errno == EINTR) {
    }
    ::_exit(0);
  }

  int sock_;
  int sfd_;
  const worker_config& base_;
  pid_t self_;
  std::vector<child> children_;
};

[[noreturn]] void server_main(int sock, const worker_config& base) noexcept {
  // Own process group: a terminal's Ctrl-C goes to the host, not to us.
  ::setpgid(0, 0);
  default_signal_dispositions();
  ::signal(SIGPIPE, SIG_IGN);
  (void)stdin_from_dev_null();  // the server never reads it; holding the host's helps nobody
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  ::sigprocmask(SIG_SETMASK, &chld, nullptr);
  const int sfd = ::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) ::_exit(72);
  const int keep[] = {sock, sfd, base.wake_fd};
  close_fds_except(keep, std::size(keep));
  server(sock, sfd, base).run();
}

}  // namespace

fork_server::fork_server(const worker_config& base) {
  int sv[2] = {-1, -1};
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    throw error(errc::spawn_failed, std::string("fork server: socketpair: ") + std::strerror(errno));
  }
  auto child = [&]() noexcept {
    ::close(sv[0]);
    server_main(sv[1], base);
  };
  const pid_t pid = fork_with_signals_blocked(child);
  const int fork_errno = errno;
  ::close(sv[1]);
  if (pid < 0) {
    ::close(sv[0]);
    throw error(errc::spawn_failed, std::string("fork server: fork: ") + std::strerror(fork_errno));
  }
  ::setpgid(pid, pid);
  pid_ = pid;
  sock_ = sv[0];
}

fork_server::~fork_server() {
  for (const message& m : replies_) {
    if (m.pidfd >= 0) ::close(m.pidfd);
  }
  if (sock_ >= 0) ::close(sock_);  // EOF: the server kills what is left and exits
  if (pid_ > 0) (void)reap(pid_);
}

bool fork_server::read_one(bool block) {
  if (dead_) return false;
  if (block) {
    pollfd p{sock_, POLLIN, 0};
    int n = 0;
    do {
      n = ::poll(&p, 1, reply_timeout_ms);
    } while (n < 0 && errno == EINTR);
    if (n == 0) {
      std::fprintf(stderr, "procpool: the fork server (pid %d) did not answer within %d ms; replacing it\n",
                   static_cast<int>(pid_), reply_timeout_ms);
      ::kill(pid_, SIGKILL);
      dead_ = true;
      return false;
    }
  }
  std::int32_t m[4] = {0, 0, 0, 0};
  iovec iov{m, sizeof m};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr h{};
  for (;;) {
    h = msghdr{};
    h.msg_iov = &iov;
    h.msg_iovlen = 1;
    h.msg_control = control;
    h.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(sock_, &h, MSG_CMSG_CLOEXEC | (block ? 0 : MSG_DONTWAIT));
    if (n == static_cast<ssize_t>(sizeof m)) break;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    dead_ = true;
    return false;
  }
  int fd = -1;
  for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
  }
  if (m[0] == msg_exited) {
    exits_[m[1]] = status_from(m[2], static_cast<std::uint32_t>(m[3]));
  } else if (m[0] == msg_reaped) {
    reaped_[m[1]] = status_from(m[2], static_cast<std::uint32_t>(m[3]));
  } else if (m[0] == msg_started) {
    replies_.push_back({m[0], m[1], m[2], static_cast<std::uint32_t>(m[3]), fd});
    fd = -1;
  }
  if (fd >= 0) ::close(fd);
  return true;
}

void fork_server::pump() {
  for (;;) {
    pollfd p{sock_, POLLIN, 0};
    if (dead_ || ::poll(&p, 1, 0) <= 0 || !read_one(false)) return;
  }
}

started_worker fork_server::start(std::uint32_t index) {
  if (dead_ || !send_msg(sock_, msg_start, 0, 0, index)) {
    dead_ = true;
    throw error(errc::spawn_failed, "the fork server is gone");
  }
  for (;;) {
    const auto it = std::find_if(replies_.begin(), replies_.end(),
                                 [&](const message& m) { return m.index == index; });
    if (it != replies_.end()) {
      const message m = *it;
      replies_.erase(it);
      if (m.pid <= 0 || m.pidfd < 0) {
        if (m.pidfd >= 0) ::close(m.pidfd);
        throw error(errc::spawn_failed, std::string("fork server: fork: ") + std::strerror(m.value));
      }
      return {m.pid, m.pidfd};
    }
    if (!read_one(true)) throw error(errc::spawn_failed, "the fork server is gone");
  }
}

void fork_server::watch(pid_t pid) noexcept {
  if (!dead_ && !send_msg(sock_, msg_watch, pid, 0, 0)) dead_ = true;
}

void fork_server::unwatch(pid_t pid) noexcept {
  if (!dead_ && !send_msg(sock_, msg_unwatch, pid, 0, 0)) dead_ = true;
}

std::optional<exit_status> fork_server::exited(pid_t pid) const {
  const auto it = exits_.find(pid);
  if (it == exits_.end()) return std::nullopt;
  return it->second;
}

exit_status fork_server::wait_exit(pid_t pid) {
  // Called only for a pid `from` holds; a node handle instead of an iterator
  // keeps optimised builds from seeing a possible end() dereference.
  const auto take = [&](std::unordered_map<pid_t, exit_status>& from) {
    exit_status s;
    auto node = from.extract(pid);
    if (!node.empty()) s = node.mapped();
    exits_.erase(pid);
    return s;
  };
  if (!dead_ && !send_msg(sock_, msg_reap, pid, 0, 0)) dead_ = true;
  for (;;) {
    if (reaped_.contains(pid)) return take(reaped_);
    if (dead_ || !read_one(true)) {
      // The server died; its workers died with it (PR_SET_PDEATHSIG) and were
      // reaped by whoever inherited them.
      if (exits_.contains(pid)) return take(exits_);
      exit_status s;
      s.signal = SIGKILL;
      return s;
    }
  }
}

}  // namespace procpool::detail
