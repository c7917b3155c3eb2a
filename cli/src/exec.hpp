// Running a program without a shell, for the built-in `exec` task.
//
// The child gets /dev/null as stdin and pipes as stdout and stderr (up to
// `max_output` bytes of each are kept; the rest is read and dropped, so the
// child never blocks on a full pipe). It is started with vfork + execve of the
// program found on PATH (execvp rules, resolved before the fork), SIGPIPE
// restored to its default and an empty signal mask, and PR_SET_PDEATHSIG
// (SIGKILL) so it dies with the thread that started it.
//
// Process groups: in a forked worker (process mode) the child stays in the
// worker's process group, so the pool's group kill on a time limit or
// terminate() reaches it and its own children. In thread mode it gets a group
// of its own (a Ctrl-C at the terminal reaches only the command line process,
// which then drains), and that group is killed when the task is asked to stop.
#pragma once

#include <chrono>
#include <cstddef>
#include <procpool/shared/detail/posix.hpp>
#include <procpool/worker/task.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace procpool::cli {

/// How a command ended, as a task_failure's detail: {"exit_code": N} or
/// {"signal": N}. The command line reads it back (process_end_of in output.cpp).
[[nodiscard]] nlohmann::json end_detail(const procpool::detail::exit_status& status);

/// What `exec` throws when the command exits non-zero or is killed by a
/// signal. what() starts with exit_status::describe() ("exited with code N" /
/// "was killed by signal N (SIGX)"); the detail carries the same as fields,
/// and the command's output ({"stdout", "stderr", "truncated"}), which is what
/// a failure is most often debugged from.
class command_failed : public procpool::task_failure {
 public:
  command_failed(const std::string& message, nlohmann::json detail)
      : task_failure(errc::task_failed, message, std::move(detail)) {}
};

/// What `exec` throws when the program cannot be started (not found, not
/// executable...).
class command_not_started : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// What a built-in task throws when the pool asked it to stop (terminate(), or a
/// time limit in thread mode) and it gave up: errc::cancelled, with how its
/// command ended for exec.
class task_stopped : public procpool::task_failure {
 public:
  explicit task_stopped(const std::string& message, nlohmann::json detail = nullptr)
      : task_failure(errc::cancelled, message, std::move(detail)) {}
};

namespace detail {

struct command_outcome {
  procpool::detail::exit_status status;  ///< how the command ended
  std::string out;               ///< first max_output bytes of stdout (raw bytes)
  std::string err;               ///< first max_output bytes of stderr (raw bytes)
  bool truncated = false;        ///< some output was dropped
};

/// What --max-output defaults to: bytes kept of each of stdout and stderr.
inline constexpr std::size_t default_max_output = std::size_t{1} << 20U;
/// --max-output's upper bound (a result holds both streams: see pool_options).
inline constexpr std::size_t max_max_output = std::size_t{64} << 20U;

/// The bytes of each stream the `exec` task keeps. Set by the command line
/// before the pool starts, and in each worker by its initializer
/// (exec_settings.hpp).
void set_exec_max_output(std::size_t bytes) noexcept;
[[nodiscard]] std::size_t exec_max_output() noexcept;

/// The `exec` task: runs `argv` and returns {"exit_code", "stdout", "stderr",
/// "truncated"} (at most exec_max_output() bytes of each stream, as UTF-8 with
/// invalid bytes replaced); throws command_failed, whose detail holds the same
/// fields, when the command fails.
[[nodiscard]] nlohmann::json exec_value(const task_context& ctx,
                                        const std::vector<std::string>& argv);

/// Where a command's stdout and stderr go instead of a pipe: descriptors of
/// files (-1: a pipe, read into command_outcome up to max_output bytes).
struct output_files {
  int out = -1;
  int err = -1;
};

/// Runs `argv` (argv[0] is looked up on PATH unless it contains '/') and waits
/// for it. Blocks. `ctx` may be null; otherwise the command is stopped (SIGTERM,
/// then SIGKILL after `stop_grace`) once ctx->stop_requested(), and task_stopped
/// is thrown. Throws command_not_started when the program cannot be run and
/// std::system_error when the pipes or the fork fail. Thread-safe.
command_outcome run_command(const std::vector<std::string>& argv, const task_context* ctx,
                            std::size_t max_output = default_max_output,
                            std::chrono::milliseconds stop_grace = std::chrono::milliseconds{1000},
                            output_files files = {});

/// Records the calling process as the one that runs thread-mode tasks (the
/// command line process). A command started from any other process (a forked
/// worker) stays in that worker's process group.
void note_supervisor_process() noexcept;
/// Whether the calling process is the one note_supervisor_process() recorded.
[[nodiscard]] bool runs_in_supervisor_process() noexcept;

}  // namespace detail
}  // namespace procpool::cli
