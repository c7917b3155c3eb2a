#include <procpool/worker/task.hpp>

#include <atomic>
#include <map>
#include <mutex>

namespace procpool::detail {
namespace {

struct registry {
  std::mutex m;  // guards tasks during static initialisation
  std::map<std::string, task_entry, std::less<>> tasks;
  std::atomic<bool> sealed{false};  // a pool exists: no more registrations
};

registry& the_registry() {
  static registry r;
  return r;
}

}  // namespace

void register_task(task_entry entry) {
  registry& r = the_registry();
  if (entry.name.empty() || entry.name.size() > 255) {
    throw error(errc::invalid_argument, "PROCPOOL_TASK: a task name must have 1 to 255 bytes");
  }
  const std::lock_guard<std::mutex> lock(r.m);
  if (r.sealed.load(std::memory_order_acquire)) {
    throw error(errc::invalid_argument,
                "PROCPOOL_TASK(" + entry.name +
                    "): registered after a pool was created; workers already started would not know it. "
                    "Put PROCPOOL_TASK at namespace scope, outside any function");
  }
  const std::string name = entry.name;
  if (!r.tasks.emplace(name, std::move(entry)).second) {
    throw error(errc::invalid_argument, "PROCPOOL_TASK: task '" + name + "' registered twice");
  }
}

void seal_task_registry() noexcept {
  registry& r = the_registry();
  const std::lock_guard<std::mutex> lock(r.m);
  r.sealed.store(true, std::memory_order_release);
}

const task_entry* find_task(std::string_view name) noexcept {
  registry& r = the_registry();
  // Registration ends before main(); lookups afterwards need no lock, and a
  // forked worker must not touch a mutex another thread might have held.
  const auto it = r.tasks.find(name);
  return it == r.tasks.end() ? nullptr : &it->second;
}

std::vector<std::string> task_names() {
  std::vector<std::string> names;
  for (const auto& [name, entry] : the_registry().tasks) names.push_back(name);
  return names;
}

}  // namespace procpool::detail
