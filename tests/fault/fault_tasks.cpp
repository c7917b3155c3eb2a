// Task registrations for the fault-tolerance suite. See fault_tasks.hpp.
#include "fault_tasks.hpp"

#include "test_util.hpp"

#include <procpool/procpool.hpp>

#include <nlohmann/json.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <stdexcept>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

std::atomic<int> g_stop_seen{0};
std::atomic<int> g_stop_pollers{0};

std::chrono::steady_clock::time_point give_up_at() {
  return std::chrono::steady_clock::now() + procpool_test::scaled(120s);
}

/// A crashing task must not leave a core file in the test's directory.
void no_core_file() noexcept {
  const rlimit none{0, 0};
  ::setrlimit(RLIMIT_CORE, &none);
}

/// Writes `text` to the FIFO at `path` (the test holds it open read-write, so
/// opening for writing does not block). One write below PIPE_BUF is atomic.
void write_fifo(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  const ssize_t n = ::write(fd, text.data(), text.size());
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size())) throw std::runtime_error("short write to " + path);
}

/// Hangs until the give-up deadline, ignoring stop requests: the pool must
/// kill it. Returns normally only if nobody did.
void hang_ignoring_stop() {
  const auto deadline = give_up_at();
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);  // the "work": be stuck
  }
}

double cpu_ms() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

int burn_cpu(int max_cpu_ms) {
  volatile std::uint64_t sink = 0;
  const double start = cpu_ms();
  while (cpu_ms() - start < max_cpu_ms) {
    for (int i = 0; i < 100000; ++i) sink = sink + static_cast<std::uint64_t>(i);
  }
  return static_cast<int>(cpu_ms() - start);
}

[[noreturn]] void segfault() {
  no_core_file();
  // Die of the signal itself: a sanitizer runtime in a spawned (exec'd) worker
  // installs a SIGSEGV handler that would turn the fault into exit(1).
  ::signal(SIGSEGV, SIG_DFL);
  // A real invalid store, not raise(): a page with no access rights. Not a
  // null pointer, which UBSan would report (and abort) before the store.
  void* page = ::mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) std::abort();
  auto* volatile target = static_cast<volatile int*>(page);
  *target = 42;
  std::abort();  // not reached
}

void spawn_grandchild_and_hang(const std::string& fifo, bool grandchild_ignores_term,
                               bool task_ignores_term) {
  // The grandchild sleeps until the give-up deadline; only async-signal-safe
  // calls after fork (the worker is single-threaded, but keep the habit).
  const auto deadline_s = std::chrono::duration_cast<std::chrono::seconds>(
                              procpool_test::scaled(120s))
                              .count();
  const pid_t child = ::fork();
  if (child < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (child == 0) {
    if (grandchild_ignores_term) ::signal(SIGTERM, SIG_IGN);
    timespec left{1, 0};
    for (long i = 0; i < deadline_s; ++i) ::nanosleep(&left, nullptr);
    ::_exit(0);
  }
  if (task_ignores_term) ::signal(SIGTERM, SIG_IGN);
  write_fifo(fifo, std::to_string(::getpid()) + " " + std::to_string(child) + "\n");
  hang_ignoring_stop();
}

/// {"<fd>": "<what it points to>"} for every open descriptor.
nlohmann::json list_fds() {
  nlohmann::json out = nlohmann::json::object();
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) throw std::runtime_error("cannot list /proc/self/fd");
  const int own = ::dirfd(d);
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const int fd = std::atoi(e->d_name);
    if (fd == own) continue;
    char target[512] = {};
    const std::string link = "/proc/self/fd/" + std::string(e->d_name);
    const ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
    out[std::to_string(fd)] = n > 0 ? std::string(target, static_cast<std::size_t>(n)) : "?";
  }
  ::closedir(d);
  return out;
}

int alloc_mib(int mib) {
  const std::size_t n = static_cast<std::size_t>(mib) << 20U;
  const std::unique_ptr<char[]> block(new char[n]);
  // Touch every page, so the memory is really used when no limit stops it.
  for (std::size_t i = 0; i < n; i += 4096) block[i] = static_cast<char>(i);
  volatile char sink = block[n - 1];
  (void)sink;
  return mib;
}

int spin_us(int us) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(us);
  while (std::chrono::steady_clock::now() < until) {
  }
  return us;
}

bool poll_stop(procpool::task_context& ctx) {
  g_stop_pollers.fetch_add(1);
  const auto deadline = give_up_at();
  while (!ctx.stop_requested() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(2ms);  // the "work": wait to be asked to stop
  }
  const bool seen = ctx.stop_requested();
  if (seen) g_stop_seen.fetch_add(1);
  return seen;
}

}  // namespace

namespace procpool_fault {

int stop_seen() noexcept { return g_stop_seen.load(); }
int stop_pollers_started() noexcept { return g_stop_pollers.load(); }
void reset_stop_record() noexcept {
  g_stop_seen.store(0);
  g_stop_pollers.store(0);
}

}  // namespace procpool_fault

PROCPOOL_TASK(fault_exit, [](int code) -> int { ::_exit(code); });
PROCPOOL_TASK(fault_abort, []() -> int {
  no_core_file();
  std::abort();
});
PROCPOOL_TASK(fault_segv, []() -> int { segfault(); });
// A map input that crashes its worker when x == at, and returns x otherwise.
PROCPOOL_TASK(fault_segv_at, [](int x, int at) -> int {
  if (x == at) segfault();
  return x;
});
PROCPOOL_TASK(fault_sigkill_self, []() -> int {
  ::raise(SIGKILL);
  return 0;
});
PROCPOOL_TASK(fault_burn_cpu, [](int max_cpu_ms) { return burn_cpu(max_cpu_ms); });
PROCPOOL_TASK(fault_crash_before_attempt, [](procpool::task_context& ctx, int n) {
  if (ctx.attempt() < n) ::raise(SIGKILL);
  return ctx.attempt();
});
PROCPOOL_TASK(fault_ignore_term_and_hang, [](const std::string& fifo) {
  ::signal(SIGTERM, SIG_IGN);
  if (!fifo.empty()) write_fifo(fifo, std::to_string(::getpid()) + "\n");
  hang_ignoring_stop();
  return "not killed";
});
PROCPOOL_TASK(fault_spawn_grandchild_and_hang,
              [](const std::string& fifo, bool grandchild_ignores_term, bool task_ignores_term) {
                spawn_grandchild_and_hang(fifo, grandchild_ignores_term, task_ignores_term);
                return "not killed";
              });
PROCPOOL_TASK(fault_alloc_mib, alloc_mib);
PROCPOOL_TASK(fault_list_fds, list_fds);
PROCPOOL_TASK(fault_spin_us, spin_us);
PROCPOOL_TASK(fault_init_throw, [](const std::string& msg) { throw std::runtime_error(msg); });
PROCPOOL_TASK(fault_poll_stop, poll_stop);
/// Marks this worker present in `dir`, waits (bounded) until `n` are, returns
/// how many it saw: `n` workers busy at the same time.
PROCPOOL_TASK(fault_meet, [](const std::string& dir, int n) {
  std::ofstream(dir + "/" + std::to_string(::getpid()));
  const auto count = [&] {
    std::size_t k = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++k;
    return k;
  };
  const auto until = std::chrono::steady_clock::now() + procpool_test::scaled(10s);
  while (count() < static_cast<std::size_t>(n) && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(2ms);  // waiting for the other worker, not ordering
  }
  return count();
});
