// What a worker process inherits from the program that made the pool, for
// every start method: descriptor 0 is /dev/null (a task that reads stdin gets
// end of file at once; reading a terminal from the worker's own process group
// would stop it with SIGTTIN), and no pool descriptor (segment, wake eventfd,
// shared-state arena) reaches a program that a task execs.
#include "test_util.hpp"

#include <procpool/procpool.hpp>

#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <string>
#include <vector>

extern char** environ;  // NOLINT: POSIX declares it nowhere in a header

namespace {

using procpool::start_method;
using json = nlohmann::json;

/// What descriptor 0 gives a task within `wait_ms`: {"dev_null": is it
/// /dev/null, "read": "eof" | "data" | "blocked" | "error"}. Bounded: a stdin
/// that never answers reads as "blocked", never a hang.
json probe_stdin(int wait_ms) {
  json out;
  struct stat in {};
  struct stat null {};
  out["dev_null"] = ::fstat(0, &in) == 0 && ::stat("/dev/null", &null) == 0 && S_ISCHR(in.st_mode) &&
                    in.st_rdev == null.st_rdev;
  pollfd p{0, POLLIN, 0};
  const int ready = ::poll(&p, 1, wait_ms);
  if (ready == 0) {
    out["read"] = "blocked";
    return out;
  }
  char c = 0;
  const ssize_t n = ::read(0, &c, 1);
  out["read"] = n == 0 ? "eof" : n > 0 ? "data" : "error";
  return out;
}
PROCPOOL_TASK(inherit_probe_stdin, probe_stdin);

/// The descriptors open in a program this task execs: a shell that says
/// "ready" once it runs its script and then waits on its stdin (a pipe from
/// here), so the listing is taken while it sits still, not while the dynamic
/// loader or its start-up code has files of its own open. {-1}: it never got ready.
std::vector<int> grandchild_fds() {
  int in[2] = {-1, -1};
  int out[2] = {-1, -1};
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) return {-1};
  posix_spawn_file_actions_t fa;
  ::posix_spawn_file_actions_init(&fa);
  ::posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  ::posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  char arg0[] = "sh";
  char arg1[] = "-c";
  char arg2[] = "echo ready; read x";
  char* argv[] = {arg0, arg1, arg2, nullptr};
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, "/bin/sh", &fa, nullptr, argv, environ);
  ::posix_spawn_file_actions_destroy(&fa);
  ::close(in[0]);
  ::close(out[1]);
  std::vector<int> fds;
  pollfd p{out[0], POLLIN, 0};
  char ready[6] = {};
  if (rc == 0 && ::poll(&p, 1, 10000) == 1 && ::read(out[0], ready, 5) == 5) {
    if (DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str()); d != nullptr) {
      while (const dirent* e = ::readdir(d)) {
        if (e->d_name[0] != '.') fds.push_back(std::atoi(e->d_name));
      }
      ::closedir(d);
    }
  } else {
    fds.push_back(-1);
  }
  ::close(in[1]);  // end of its stdin: the shell's read returns and it exits
  ::close(out[0]);
  if (rc == 0) {
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
  }
  std::sort(fds.begin(), fds.end());
  return fds;
}
PROCPOOL_TASK(inherit_grandchild_fds, grandchild_fds);

std::string name_of(start_method m) {
  switch (m) {
    case start_method::fork_server: return "fork_server";
    case start_method::fork: return "fork";
    case start_method::spawn: return "spawn";
  }
  return "unknown";
}

class WorkerInheritanceTest : public ::testing::TestWithParam<start_method> {
 protected:
  [[nodiscard]] procpool::options opts() const {
    return procpool::options{}.with_mode(procpool::mode::process).with_workers(1).with_start(GetParam());
  }
};

// Descriptor 0 of this process is, for the duration of the test, a pipe whose
// writer stays open: a worker that inherited it would block in read. (On a
// terminal the same worker would be stopped by SIGTTIN.)
TEST_P(WorkerInheritanceTest, StdinIsDevNull_ReadGivesEofAtOnce) {
  int p[2] = {-1, -1};
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  const procpool_test::unique_fd writer(p[1]);
  const procpool_test::unique_fd saved(::fcntl(0, F_DUPFD_CLOEXEC, 3));
  ASSERT_GE(saved.get(), 0);
  ASSERT_EQ(::dup2(p[0], 0), 0);  // dup2 clears close-on-exec: it would be inherited
  ::close(p[0]);
  const procpool_test::scope_exit restore([&] { ::dup2(saved.get(), 0); });
  procpool::pool pool(opts());
  const json got = pool.apply("stdin", "inherit_probe_stdin", 2000);
  pool.close();
  pool.join();
  EXPECT_EQ(got.value("read", std::string()), "eof") << got.dump();
  EXPECT_TRUE(got.value("dev_null", false)) << got.dump();
}

TEST_P(WorkerInheritanceTest, ExecFromTask_GrandchildHoldsOnlyStdio) {
  procpool::pool pool(opts());
  const std::vector<int> fds = pool.apply("fds", "inherit_grandchild_fds").get<std::vector<int>>();
  pool.close();
  pool.join();
  EXPECT_EQ(fds, (std::vector<int>{0, 1, 2})) << "a program run by a task inherited pool descriptors";
}

INSTANTIATE_TEST_SUITE_P(AllMethods, WorkerInheritanceTest,
                         ::testing::Values(start_method::fork_server, start_method::fork,
                                           start_method::spawn),
                         [](const ::testing::TestParamInfo<start_method>& i) { return name_of(i.param); });

}  // namespace
