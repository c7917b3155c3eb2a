// procpool::options: everything a pool is configured with, in one aggregate.
//
//   procpool::pool pool({.mode = procpool::mode::process, .workers = 8});
//   procpool::pool pool(procpool::options{}.with_workers(4).with_max_queue(64));
#pragma once

#include <procpool/supervisor/observer.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace procpool {

/// Where tasks run: forked worker processes, or threads of this process.
enum class mode { thread, process };

/// How process-mode workers start.
///  - fork_server (default): a small helper process is forked when the pool is
///    created, before the pool starts any thread; it forks every worker, so no
///    worker is forked from a process that has other threads.
///  - fork: the pool's monitor thread forks each worker directly. Fine in a
///    single-threaded host; in a threaded host a lock held by another thread at
///    fork time stays held in the worker.
///  - spawn: each worker is a fresh executable started with Boost.Process: the
///    running program itself (its main() must begin with
///    procpool::run_worker_if_requested(argc, argv)) or options::worker_executable.
enum class start_method { fork_server, fork, spawn };

/// Where tasks run: this machine's workers (local), or every rank of an MPI
/// job started by the site's launcher (mpi; see <procpool/supervisor/mpi.hpp>).
enum class backend_kind { local, mpi };

/// How long the pool keeps a finished tag's result for result() / take().
///  - keep_until_taken (default): until take() removes it.
///  - drop_once_delivered: until it was delivered once: its callback ran, or
///    its handle's get()/result() or pool::result() returned it. Then the tag
///    is unknown_tag to result() and may be submitted again.
/// apply(), map(), starmap() and imap_unordered() never retain results.
enum class retention { keep_until_taken, drop_once_delivered };

[[nodiscard]] inline int default_worker_count() noexcept {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

struct options {
  /// Thread or process workers. Same interface, same semantics, except that a
  /// crashing task takes the whole process down in thread mode and a stuck task
  /// cannot be killed there.
  procpool::mode mode = procpool::mode::process;
  /// Process mode: how workers start (see start_method).
  procpool::start_method start = procpool::start_method::fork_server;
  /// spawn: the worker program (empty: this program, /proc/self/exe).
  std::string worker_executable{};
  /// spawn: how long a started program has to reach
  /// run_worker_if_requested() before it counts as a start failure.
  std::chrono::milliseconds start_timeout{10000};
  /// The cap on live workers; they start lazily. Must be >= 1.
  int workers = default_worker_count();
  /// The most tasks queued and not yet claimed by a worker. submit() blocks past
  /// it, try_submit() refuses with errc::full. Must be >= 1.
  std::size_t max_queue = 1024;
  /// The largest encoded argument or result payload, in bytes. A larger one is
  /// refused at submit (errc::too_large); a larger result fails its task.
  std::size_t max_payload_bytes = std::size_t{1} << 20U;
  /// A registered task run once in each worker before it takes work (empty: none).
  /// If it throws, the worker exits and counts as a start failure.
  std::string initializer{};
  /// Arguments of the initializer, as for submit.
  nlohmann::json initializer_args{};
  /// Recycle a worker after this many tasks (0: never).
  std::size_t max_tasks_per_worker = 0;
  /// The time limit of every task (0: none); a submission may set its own
  /// (task_options::timeout). At the limit the worker's process group gets
  /// SIGTERM, then SIGKILL after kill_grace; the tag ends timed_out and the
  /// worker is replaced. Thread mode: the tag ends timed_out and the task sees
  /// task_context::stop_requested(); its thread cannot be stopped.
  std::chrono::milliseconds task_timeout{0};
  /// Extra attempts for a task that does not end done (failed, crashed,
  /// timed_out; never cancelled). A submission may set its own.
  int retries = 0;
  /// Between SIGTERM and SIGKILL when a task runs past its time limit.
  std::chrono::milliseconds kill_grace{1000};
  /// Process mode: the address-space limit of each worker (RLIMIT_AS), in bytes
  /// (0: none). A task that exceeds it typically fails with std::bad_alloc, or
  /// its worker dies and the tag ends crashed. Not available in thread mode.
  std::size_t worker_memory_limit = 0;
  /// Process mode: the CPU-time limit of each worker (RLIMIT_CPU), in seconds
  /// (0: none); past it the kernel kills the worker (SIGXCPU / SIGKILL) and the
  /// running tag ends crashed. Not available in thread mode.
  std::size_t worker_cpu_seconds = 0;
  /// terminate(): how long running tasks get between the stop request (SIGTERM in
  /// process mode) and SIGKILL.
  std::chrono::milliseconds terminate_grace{1000};
  /// Start failures (initializer throws, worker dies before it is ready) tolerated
  /// within start_failure_window; one more puts the pool in its failed state.
  int max_start_failures = 5;
  std::chrono::milliseconds start_failure_window{10000};
  /// Bytes of the pool's shared-state arena: the objects made with
  /// pool::make_array, make_dict, make_queue, make_event, make_lock and
  /// make_rlock live there. Address space until used (pages are touched
  /// lazily); counts toward worker_memory_limit. At least 2 MiB.
  std::size_t shared_state_bytes = std::size_t{64} << 20U;
  /// How long finished results stay in the pool (see retention).
  procpool::retention result_retention = procpool::retention::keep_until_taken;
  /// The most tags the pool holds for result()/take() at once, finished or
  /// still in flight (0: no bound). At the bound, submit() blocks until one
  /// is taken or delivered, try_submit() refuses with errc::full and
  /// submit_for() waits at most its timeout: never a silent eviction.
  std::size_t max_retained_results = 0;
  /// Watches tasks and workers (see observer.hpp); null: none.
  std::shared_ptr<procpool::observer> observer{};
  /// Receives the pool's own diagnostics (a callback that threw, the pool
  /// failing, a shutdown fault), one sentence each. Empty: written to stderr
  /// as "procpool: <sentence>". Called from the pool's threads; must not throw.
  std::function<void(std::string_view)> diagnostic{};

  /// local: this machine's workers. mpi: rank 0 supervises and every rank runs
  /// `workers` process-mode workers (agent ranks must call
  /// procpool::mpi::serve_if_agent). Shared-state objects are refused with mpi.
  procpool::backend_kind backend = procpool::backend_kind::local;
  /// mpi: tasks sent to a rank beyond its workers (its credits are workers +
  /// this), so a slow rank never hoards work.
  int mpi_prefetch = 1;
  /// mpi: whether rank 0 runs tasks too (false: it only supervises).
  bool mpi_rank0_runs_tasks = true;
  /// mpi: a rank silent this long (agents say something at least every
  /// quarter of it) is lost: rank 0 stops sending to it and runs its tasks on
  /// other ranks, once each (a second loss ends a task crashed with
  /// procpool::rank_lost); the job then ends through MPI_Abort when the pool
  /// is destroyed. 0: never.
  std::chrono::milliseconds mpi_heartbeat_limit{10000};

  options& with_mode(procpool::mode m) { mode = m; return *this; }
  options& with_backend(procpool::backend_kind b) { backend = b; return *this; }
  options& with_workers(int n) { workers = n; return *this; }
  options& with_start(procpool::start_method s) { start = s; return *this; }
  options& with_worker_executable(std::string path) { worker_executable = std::move(path); return *this; }
  options& with_max_queue(std::size_t n) { max_queue = n; return *this; }
  options& with_max_payload_bytes(std::size_t n) { max_payload_bytes = n; return *this; }
  options& with_initializer(std::string name, nlohmann::json args = nullptr) {
    initializer = std::move(name);
    initializer_args = std::move(args);
    return *this;
  }
  options& with_max_tasks_per_worker(std::size_t n) { max_tasks_per_worker = n; return *this; }
  options& with_task_timeout(std::chrono::milliseconds t) { task_timeout = t; return *this; }
  options& with_retries(int n) { retries = n; return *this; }
  options& with_kill_grace(std::chrono::milliseconds g) { kill_grace = g; return *this; }
  options& with_worker_memory_limit(std::size_t bytes) { worker_memory_limit = bytes; return *this; }
  options& with_worker_cpu_seconds(std::size_t s) { worker_cpu_seconds = s; return *this; }
  options& with_start_timeout(std::chrono::milliseconds t) { start_timeout = t; return *this; }
  options& with_terminate_grace(std::chrono::milliseconds g) { terminate_grace = g; return *this; }
  options& with_shared_state_bytes(std::size_t n) { shared_state_bytes = n; return *this; }
  options& with_result_retention(procpool::retention r) { result_retention = r; return *this; }
  options& with_max_retained_results(std::size_t n) { max_retained_results = n; return *this; }
  options& with_observer(std::shared_ptr<procpool::observer> o) { observer = std::move(o); return *this; }
  options& with_diagnostic(std::function<void(std::string_view)> d) { diagnostic = std::move(d); return *this; }
};

/// Per-submission settings that override the pool's options.
struct task_options {
  /// Time limit of this task (0: none); unset: options::task_timeout.
  std::optional<std::chrono::milliseconds> timeout{};
  /// Extra attempts after a failure, crash or timeout; unset: options::retries.
  std::optional<int> retries{};
};

}  // namespace procpool
