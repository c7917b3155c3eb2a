#include <procpool/shared/error.hpp>

#include <string>

namespace procpool {
namespace {

class category_impl final : public std::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "procpool"; }
  [[nodiscard]] std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::closed: return "pool is closed";
      case errc::duplicate_tag: return "duplicate tag";
      case errc::unknown_task: return "unknown task";
      case errc::too_large: return "payload too large";
      case errc::full: return "queue full";
      case errc::timeout: return "timed out";
      case errc::invalid_argument: return "invalid argument";
      case errc::bad_arguments: return "arguments do not match the task";
      case errc::not_closed: return "pool not closed";
      case errc::unknown_tag: return "unknown tag";
      case errc::task_failed: return "task failed";
      case errc::worker_crashed: return "worker crashed";
      case errc::task_timeout: return "task timed out";
      case errc::cancelled: return "task cancelled";
      case errc::spawn_failed: return "worker could not be started";
      case errc::segment_poisoned: return "shared memory could not be repaired";
      case errc::payload_invalid: return "payload invalid";
      case errc::system: return "system call failed";
    }
    return "unknown procpool error";
  }
};

}  // namespace

const std::error_category& category() noexcept {
  static const category_impl instance;
  return instance;
}

error::error(errc code, const std::string& where_and_why)
    : std::system_error(make_error_code(code), where_and_why) {}

errc errc_for(task_state s) noexcept {
  switch (s) {
    case task_state::failed: return errc::task_failed;
    case task_state::crashed: return errc::worker_crashed;
    case task_state::timed_out: return errc::task_timeout;
    case task_state::cancelled: return errc::cancelled;
    case task_state::queued:
    case task_state::running:
    case task_state::done: break;
  }
  return errc::invalid_argument;
}

namespace {
std::string describe(const std::string& tag, task_state state, const std::string& type,
                     const std::string& message) {
  std::string s = "task '" + tag + "' " + std::string(to_string(state));
  if (!type.empty()) s += ": " + type;
  if (!message.empty()) s += (type.empty() ? ": " : ": ") + message;
  return s;
}
}  // namespace

task_error::task_error(std::string tag, task_state state, std::string remote_type,
                       std::string remote_message, int worker_pid)
    : error(errc_for(state), describe(tag, state, remote_type, remote_message)),
      tag_(std::move(tag)),
      state_(state),
      remote_type_(std::move(remote_type)),
      remote_message_(std::move(remote_message)),
      worker_pid_(worker_pid) {}

}  // namespace procpool
