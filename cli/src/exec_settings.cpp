// The initializer that applies the command's exec settings in a worker (see
// exec_settings.hpp).
#include "exec_settings.hpp"

#include "exec.hpp"
#include "results_dir.hpp"

#include <procpool/shared/error.hpp>
#include <procpool/worker/task.hpp>

#include <stdexcept>

namespace procpool::cli::detail {
namespace {

/// Applies `s` in this worker. A thread-mode worker runs in the command line
/// process, which set them already: it must not write them again while other
/// workers' jobs read them.
std::nullptr_t apply_exec_settings(const nlohmann::json& s) {
  if (runs_in_supervisor_process()) return nullptr;
  set_exec_max_output(s.at("max_output").get<std::size_t>());
  const std::string dir = s.at("results").get<std::string>();
  if (!dir.empty()) {
    if (const std::string e = set_results_dir(dir); !e.empty()) throw std::runtime_error(e);
  }
  return nullptr;
}

}  // namespace

nlohmann::json exec_settings_args(std::size_t max_output, const std::string& results_dir) {
  return {{"max_output", max_output}, {"results", results_dir}};
}

void register_exec_settings_task() {
  if (procpool::detail::find_task(exec_settings_task) != nullptr) return;
  procpool::detail::register_task(
      procpool::detail::make_task_entry(std::string(exec_settings_task), &apply_exec_settings));
}

}  // namespace procpool::cli::detail
