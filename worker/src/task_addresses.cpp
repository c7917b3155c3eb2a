// The functions registered with PROCPOOL_TASK, by address: how
// pool::submit(tag, square, 7) finds the name "square" (typed_task.hpp).
// Kept apart from the name registry (registry.cpp) because only the typed
// calls need it, and a function has an address only in the supervisor's view:
// the name is what travels to a worker.
#include <procpool/worker/typed_task.hpp>

#include <map>
#include <mutex>
#include <string>

namespace procpool::detail {
namespace {

struct address_entry {
  std::string name;
  std::string other_name;  // non-empty: registered under two names, ambiguous
};

struct address_registry {
  std::mutex m;  // guards entries during static initialisation
  std::map<void (*)(), address_entry> entries;
};

address_registry& the_addresses() {
  static address_registry r;
  return r;
}

}  // namespace

void register_task_address(void (*fn)(), const char* name) {
  address_registry& r = the_addresses();
  const std::lock_guard<std::mutex> lock(r.m);
  auto [it, inserted] = r.entries.try_emplace(fn, address_entry{name, {}});
  if (!inserted && it->second.name != name) it->second.other_name = name;
}

std::string_view task_name_by_address(void (*fn)(), std::string_view where, std::string_view type) {
  // Registration ends before main() (register_task refuses later ones before
  // this registry is touched), so lookups need no lock, as in find_task.
  const address_registry& r = the_addresses();
  const auto it = r.entries.find(fn);
  if (it == r.entries.end()) {
    throw error(errc::unknown_task, std::string(where) + ": this function (" + std::string(type) +
                                        ") was not registered with PROCPOOL_TASK; register it, "
                                        "or call the task by name");
  }
  if (!it->second.other_name.empty()) {
    const address_entry& e = it->second;
    throw error(errc::invalid_argument, std::string(where) + ": this function (" + std::string(type) +
                                            ") is registered as both '" + e.name + "' and '" +
                                            e.other_name + "'; use the token " + e.name + "_task or " +
                                            e.other_name + "_task instead");
  }
  return it->second.name;
}

}  // namespace procpool::detail
