// MPI's initialisation and finalisation (once per process), and the facts a
// rank reports at start.
#include "backend/mpi/mpi_session.hpp"

#include <procpool/shared/error.hpp>
#include <procpool/worker/task.hpp>

#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#ifndef PROCPOOL_VERSION_STRING
#define PROCPOOL_VERSION_STRING "unknown"
#endif

namespace procpool::detail::mpi {
namespace {

std::mutex session_m;
bool finalized_once = false;  // guarded by session_m
bool exit_hook_set = false;   // guarded by session_m

/// Registered once MPI is initialised: a process that leaves main() with MPI
/// still open (rank 0 after a refused start, or a program that never destroyed
/// its pool) finalizes then, after its output is flushed. MPI_Finalize is
/// collective, so the other ranks leave theirs only once this one is in it,
/// and a launcher that ends the job when a rank exits non-zero cannot cut off
/// what this rank printed last (stdout is flushed only after atexit handlers).
void finalize_at_exit() noexcept {
  std::fflush(nullptr);
  finalize();
}

std::uint64_t fnv1a(std::uint64_t h, const std::string& s) noexcept {
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  h ^= 0xffU;  // a separator: ("ab","c") and ("a","bc") differ
  h *= 1099511628211ULL;
  return h;
}

}  // namespace

world init_once(const char* where) {
  const std::lock_guard<std::mutex> lock(session_m);
  int done = 0;
  MPI_Finalized(&done);
  if (done != 0 || finalized_once) {
    throw error(errc::invalid_argument, std::string(where) +
                                            ": MPI was finalized already in this process (one MPI pool per "
                                            "process: MPI cannot be initialised again)");
  }
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized == 0) {
    int provided = 0;
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) {
      throw error(errc::system, std::string(where) + ": MPI_Init_thread failed");
    }
    if (provided < MPI_THREAD_SERIALIZED) {
      throw error(errc::system, std::string(where) +
                                    ": this MPI does not provide MPI_THREAD_SERIALIZED, which procpool needs");
    }
  } else {
    int provided = 0;
    MPI_Query_thread(&provided);
    if (provided < MPI_THREAD_SERIALIZED) {
      throw error(errc::system, std::string(where) +
                                    ": MPI was initialised below MPI_THREAD_SERIALIZED, which procpool needs");
    }
  }
  if (!exit_hook_set) {
    exit_hook_set = std::atexit(&finalize_at_exit) == 0;
  }
  world w;
  MPI_Comm_rank(MPI_COMM_WORLD, &w.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &w.size);
  return w;
}

void finalize() noexcept {
  const std::lock_guard<std::mutex> lock(session_m);
  if (finalized_once) return;
  int initialized = 0;
  int done = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&done);
  if (initialized != 0 && done == 0) MPI_Finalize();
  finalized_once = true;
}

int launcher_world_size() noexcept {
  // SLURM_STEP_NUM_TASKS, not SLURM_NTASKS: the batch script itself is not a
  // job step of that many ranks.
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"}) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') continue;
    char* end = nullptr;
    const long n = std::strtol(v, &end, 10);
    if (end != nullptr && *end == '\0' && n > 0 && n < (1L << 30)) return static_cast<int>(n);
  }
  return -1;
}

std::string host_name() {
  std::array<char, 256> buf{};
  if (::gethostname(buf.data(), buf.size() - 1) != 0) return "unknown";
  return std::string(buf.data());
}

std::uint64_t registry_hash() {
  std::vector<std::string> names = task_names();
  std::sort(names.begin(), names.end());
  std::uint64_t h = 14695981039346656037ULL;
  for (const std::string& n : names) {
    h = fnv1a(h, n);
    if (const task_entry* e = find_task(n)) {
      for (const std::string& t : e->param_types) h = fnv1a(h, t);
    }
  }
  return h;
}

const char* version() noexcept { return PROCPOOL_VERSION_STRING; }

std::chrono::microseconds backoff::next() noexcept {
  const std::chrono::microseconds w = wait_;
  wait_ = std::min(wait_ * 2, std::chrono::microseconds(1000));
  return w;
}

void backoff::idle() noexcept { std::this_thread::sleep_for(next()); }

}  // namespace procpool::detail::mpi
