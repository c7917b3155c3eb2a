// Spawning a fresh worker program with Boost.Process (start_method::spawn).
#define BOOST_PROCESS_USE_STD_FS 1
// Boost.Process v2 in 1.81 uses these without including them.
#include <boost/optional.hpp>
#include <boost/type_traits.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/process/v2/posix/default_launcher.hpp>
#include <boost/process/v2/process.hpp>
#include <boost/process/v2/environment.hpp>
#include <boost/process/v2/stdio.hpp>
// 1.81 header-only mode never includes the definition of
// process_environment::on_setup; this object provides it (once per program).
#include <boost/process/v2/impl/environment.ipp>

#include <procpool/shared/error.hpp>
#include "backend/worker_process.hpp"
#include <procpool/worker/worker_main.hpp>

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>
#include <vector>

extern char** environ;  // NOLINT: POSIX declares it nowhere in a header

namespace procpool::detail {
namespace {

/// Installs descriptor `source` as `target` in the child. (Boost 1.81's
/// posix::bind_fd returns nothing from on_setup and leaves FD_CLOEXEC set when
/// source == target.) Sources must not collide with any target: the caller
/// duplicates them above the targets first.
struct inherit_fd {
  int target;
  int source;
  boost::system::error_code on_setup(boost::process::v2::posix::default_launcher& launcher,
                                     const std::filesystem::path& /*exe*/, const char* const* /*argv*/) {
    launcher.fd_whitelist.push_back(target);
    return {};
  }
  boost::system::error_code on_exec_setup(boost::process::v2::posix::default_launcher& /*launcher*/,
                                          const std::filesystem::path& /*exe*/,
                                          const char* const* /*argv*/) const {
    if (::dup2(source, target) == -1) return {errno, boost::system::system_category()};
    return {};
  }
};

/// Closes, in the child, every descriptor from 3 up that the launcher does not
/// keep (its whitelist: stdio, our targets, its exec-error pipe). Boost 1.81's
/// own close_all leaves open every descriptor below the highest whitelisted one.
/// Pass it last, after the inherit_fd initializers. Allocates nothing.
struct close_the_rest {
  boost::system::error_code on_exec_setup(boost::process::v2::posix::default_launcher& launcher,
                                          const std::filesystem::path& /*exe*/,
                                          const char* const* /*argv*/) const {
    const auto& keep = launcher.fd_whitelist;
    int from = 3;
    for (;;) {
      int next = -1;  // the smallest kept descriptor >= from
      for (const int k : keep) {
        if (k >= from && (next < 0 || k < next)) next = k;
      }
      if (next < 0) {
        ::close_range(static_cast<unsigned>(from), ~0U, 0);
        return {};
      }
      if (next > from) ::close_range(static_cast<unsigned>(from), static_cast<unsigned>(next - 1), 0);
      from = next + 1;
    }
  }
};

/// A duplicate of `fd` numbered 10 or higher, closed on exec; closed by the destructor.
struct high_fd {
  int fd;
  explicit high_fd(int from) : fd(::fcntl(from, F_DUPFD_CLOEXEC, 10)) {
    if (fd < 0) throw error(errc::spawn_failed, std::string("fcntl(F_DUPFD): ") + std::strerror(errno));
  }
  high_fd(const high_fd&) = delete;
  high_fd& operator=(const high_fd&) = delete;
  ~high_fd() { ::close(fd); }
};

}  // namespace

started_worker spawn_worker(const worker_config& config, const std::string& executable,
                            int segment_fd, int shared_state_fd) {
  namespace bp = boost::process::v2;
  const std::string exe = executable.empty() ? std::string("/proc/self/exe") : executable;
  nlohmann::json cfg = {
      {"index", config.index},
      {"initializer", config.initializer},
      {"initializer_args", config.initializer_args},
      {"max_tasks", config.max_tasks},
      {"memory_limit", config.memory_limit},
      {"cpu_seconds", config.cpu_seconds},
      {"parent_pid", static_cast<int>(::getpid())},
  };
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (std::strncmp(*e, "PROCPOOL_WORKER=", 16) != 0) env.emplace_back(*e);
  }
  env.push_back(std::string(worker_env) + "=1");

  const high_fd segment(segment_fd);
  const high_fd wake(config.wake_fd);
  const high_fd state(shared_state_fd);
  boost::asio::io_context ctx;
  boost::system::error_code ec;
  bp::process proc = bp::default_process_launcher()(
      ctx, ec, std::filesystem::path(exe),
      std::vector<std::string>{worker_flag, cfg.dump()}, bp::process_environment(env),
      inherit_fd{worker_segment_fd, segment.fd}, inherit_fd{worker_wake_fd, wake.fd},
      inherit_fd{worker_shared_state_fd, state.fd}, close_the_rest{});
  if (ec) {
    throw error(errc::spawn_failed, "cannot start worker program '" + exe + "': " + ec.message());
  }
  const pid_t pid = proc.id();
  proc.detach();  // the pool owns it from here: pidfd to watch, waitpid(pid) to reap
  ::setpgid(pid, pid);
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) {
    const int e = errno;
    signal_worker(pid, SIGKILL);
    (void)reap(pid);
    throw error(errc::spawn_failed, std::string("pidfd_open: ") + std::strerror(e));
  }
  return {pid, fd};
}

}  // namespace procpool::detail
