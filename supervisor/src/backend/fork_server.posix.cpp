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
#include <string>
#include <vector>

namespace procpool::detail {
namespace {

enum : std::int32_t { msg_start = 1, msg_started = 2, msg_exited = 3, msg_watch = 4, msg_unwatch = 5 };

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
  const pid_t self = ::getpid();
  std::vector<pid_t> live;
  // Loop state: single-threaded; the only blocking call is poll().
  for (;;) {
    pollfd fds[2] = {{sock, POLLIN, 0}, {sfd, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if ((fds[1].revents & POLLIN) != 0) {
      signalfd_siginfo si{};
      while (::read(sfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
      }
      for (;;) {
        // Peek first (WNOWAIT): while the worker is an unreaped zombie its pid,
        // which is also its process group, cannot be reused, so the group kill
        // takes only what the task left behind.
        siginfo_t info{};
        if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0) break;
        const pid_t p = info.si_pid;
        ::kill(-p, SIGKILL);
        int st = 0;
        if (::waitpid(p, &st, 0) != p) break;
        live.erase(std::remove(live.begin(), live.end(), p), live.end());
        send_msg(sock, msg_exited, p, st, 0);
      }
    }
    if (fds[0].revents == 0) continue;
    std::int32_t m[4] = {0, 0, 0, 0};
    const ssize_t n = ::recv(sock, m, sizeof m, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n != static_cast<ssize_t>(sizeof m)) break;  // the supervisor is gone
    if (m[0] == msg_watch) {
      live.push_back(m[1]);
      continue;
    }
    if (m[0] == msg_unwatch) {
      live.erase(std::remove(live.begin(), live.end(), m[1]), live.end());
      continue;
    }
    if (m[0] != msg_start) continue;
    worker_config cfg = base;
    cfg.index = static_cast<std::uint32_t>(m[3]);
    int gate[2] = {-1, -1};
    if (::pipe2(gate, O_CLOEXEC) != 0) {
      send_msg(sock, msg_started, -1, errno, cfg.index);
      continue;
    }
    // Single-threaded here, but a worker must not run the server's handlers
    // either: it starts with every signal blocked, like every other fork.
    auto child = [&]() noexcept {
      ::close(gate[1]);
      become_worker(std::move(cfg), self, gate[0]);
    };
    const pid_t pid = fork_with_signals_blocked(child);
    int err = errno;
    ::close(gate[0]);
    int pidfd = -1;
    if (pid > 0) {
      ::setpgid(pid, pid);
      live.push_back(pid);
      // Opened here, while the worker is our unreaped child, so the pidfd names
      // it even if it exits (and we reap it) before the supervisor looks.
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
      send_msg(sock, msg_started, pid, 0, cfg.index, pidfd);
      ::close(pidfd);
    } else {
      send_msg(sock, msg_started, -1, err, cfg.index);
    }
  }
  // The supervisor went away: take every worker (and its process group) along.
  for (const pid_t p : live) {
    ::kill(-p, SIGKILL);
    ::kill(p, SIGKILL);
  }
  while (::waitpid(-1, nullptr, 0) > 0 || errno == EINTR) {
  }
  ::_exit(0);
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
    exits_[m[1]] = m[2];
    if (fd >= 0) ::close(fd);
  } else if (m[0] == msg_started) {
    replies_.push_back({m[0], m[1], m[2], static_cast<std::uint32_t>(m[3]), fd});
  } else if (fd >= 0) {
    ::close(fd);
  }
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

exit_status fork_server::wait_exit(pid_t pid) {
  for (;;) {
    const auto it = exits_.find(pid);
    if (it != exits_.end()) {
      const int st = it->second;
      exits_.erase(it);
      return decode_wait_status(st);
    }
    if (!read_one(true)) {
      // The server died; its workers died with it (PR_SET_PDEATHSIG).
      exit_status s;
      s.signal = SIGKILL;
      return s;
    }
  }
}

}  // namespace procpool::detail
