#include <procpool/shared/detail/layout.hpp>
#include <procpool/shared/detail/posix.hpp>
#include <procpool/shared/detail/shared_state_arena.hpp>
#include <procpool/worker/detail/worker_loop.hpp>
#include <procpool/worker/worker_main.hpp>

#include <nlohmann/json.hpp>

#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace procpool {
namespace {

[[noreturn]] void die(int code, const std::string& why) {
  std::fprintf(stderr, "procpool worker %d: %s\n", static_cast<int>(::getpid()), why.c_str());
  std::fflush(nullptr);
  ::_exit(code);
}

}  // namespace

void run_worker_if_requested(int argc, char** argv) {
  if (argc < 3 || argv[1] == nullptr || std::strcmp(argv[1], detail::worker_flag) != 0) return;
  ::unsetenv(detail::worker_env);  // pools created by tasks in this worker are fine
  nlohmann::json cfg;
  try {
    cfg = nlohmann::json::parse(argv[2]);
  } catch (const std::exception& e) {
    die(64, std::string("bad worker configuration: ") + e.what());
  }
  const auto parent = cfg.value("parent_pid", 0);
  // The supervisor's monitor thread started us and lives as long as the pool.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) die(71, "the pool that started this worker is gone");
  ::setpgid(0, 0);
  // The launcher installed the pool's descriptors without close-on-exec (the
  // exec needed them); from here they are this worker's alone, and a program a
  // task execs must not inherit them (the wake eventfd stays open all along).
  for (const int fd : {detail::worker_segment_fd, detail::worker_wake_fd, detail::worker_shared_state_fd}) {
    if (!detail::set_cloexec(fd)) die(65, std::string("a pool descriptor is missing: ") + std::strerror(errno));
  }

  // Map the pool's segment: its header says how large it is.
  const int fd = detail::worker_segment_fd;
  void* head = ::mmap(nullptr, sizeof(detail::segment_header), PROT_READ, MAP_SHARED, fd, 0);
  if (head == MAP_FAILED) die(65, std::string("cannot map the pool's memory: ") + std::strerror(errno));
  const auto* probe = static_cast<const detail::segment_header*>(head);
  if (probe->magic != detail::layout_magic || probe->version != detail::layout_version) {
    die(65, "the pool's memory has an unknown layout (a different procpool version?)");
  }
  const std::size_t total = probe->total_bytes;
  ::munmap(head, sizeof(detail::segment_header));
  void* base = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) die(65, std::string("cannot map the pool's memory: ") + std::strerror(errno));
  ::close(fd);

  // The shared-state arena, at whatever address it lands (it holds offsets only).
  // Lives until the process _exits below.
  detail::shared_state_arena* shared_state = nullptr;
  try {
    shared_state = new detail::shared_state_arena(detail::shared_state_arena::attach_tag{},
                                                  detail::worker_shared_state_fd);
  } catch (const std::exception& e) {
    die(65, std::string("cannot map the pool's shared state: ") + e.what());
  }
  ::close(detail::worker_shared_state_fd);

  detail::worker_config c;
  c.shared_state = shared_state;
  c.header = static_cast<detail::segment_header*>(base);
  c.index = cfg.value("index", 0U);
  if (c.index >= c.header->worker_count) die(64, "worker index out of range");
  c.wake_fd = detail::worker_wake_fd;
  c.pid = static_cast<int>(::getpid());
  c.initializer = cfg.value("initializer", std::string());
  c.initializer_args = cfg.value("initializer_args", nlohmann::json::array());
  c.max_tasks = cfg.value("max_tasks", std::size_t{0});
  c.memory_limit = cfg.value("memory_limit", std::size_t{0});
  c.cpu_seconds = cfg.value("cpu_seconds", std::size_t{0});
  detail::apply_resource_limits(c);
  detail::configure_worker_heap();
  const int code = detail::run_worker(c);
  std::fflush(nullptr);
  ::_exit(code);
}

}  // namespace procpool
