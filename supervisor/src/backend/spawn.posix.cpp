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

#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>
#include <system_error>
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

/// In the child before exec: every signal back to its default disposition
/// (ignored ones would survive exec) and an empty mask (the launcher forked
/// with every signal blocked, see spawn_worker). Allocates nothing.
struct default_signals {
  boost::system::error_code on_exec_setup(boost::process::v2::posix::default_launcher& /*launcher*/,
                                          const std::filesystem::path& /*exe*/,
                                          const char* const* /*argv*/) const {
    default_signal_dispositions();
    unblock_all_signals();
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
    close_fds_except(keep.data(), keep.size());
    return {};
  }
};

/// A close-on-exec duplicate of `fd` numbered 10 or higher, so that no source
/// collides with a target descriptor (0, 3-5) in the child.
unique_fd above_targets(int fd) {
  try {
    return dup_at_least(fd, 10);
  } catch (const std::system_error& e) {
    throw error(errc::spawn_failed, e.what());
  }
}

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

  const unique_fd segment = above_targets(segment_fd);
  const unique_fd wake = above_targets(config.wake_fd);
  const unique_fd state = above_targets(shared_state_fd);
  // Never the host's terminal as stdin (SIGTTIN would stop a task that reads it).
  const unique_fd null_input = [] {
    try {
      return open_dev_null(10);
    } catch (const std::system_error& e) {
      throw error(errc::spawn_failed, e.what());
    }
  }();
  boost::asio::io_context ctx;
  boost::system::error_code ec;
  // The launcher forks: no handler of the host program may run in the child
  // before exec (default_signals resets them there).
  signals_blocked blocked;
  bp::process proc = bp::default_process_launcher()(
      ctx, ec, std::filesystem::path(exe),
      std::vector<std::string>{worker_flag, cfg.dump()}, bp::process_environment(env),
      default_signals{}, inherit_fd{STDIN_FILENO, null_input.get()},
      inherit_fd{worker_segment_fd, segment.get()}, inherit_fd{worker_wake_fd, wake.get()},
      inherit_fd{worker_shared_state_fd, state.get()}, close_the_rest{});
  blocked.restore();
  if (ec) {
    throw error(errc::spawn_failed, "cannot start worker program '" + exe + "': " + ec.message());
  }
  const pid_t pid = proc.id();
  proc.detach();  // the pool owns it from here: pidfd to watch, waitpid(pid) to reap
  ::setpgid(pid, pid);
  const int fd = open_pidfd(pid);
  if (fd < 0) {
    const int e = errno;
    signal_worker(pid, SIGKILL);
    (void)reap(pid);
    throw error(errc::spawn_failed, std::string("pidfd_open: ") + std::strerror(e));
  }
  return {pid, fd};
}

}  // namespace procpool::detail
