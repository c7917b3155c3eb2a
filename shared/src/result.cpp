#include <procpool/shared/result.hpp>

namespace procpool {

namespace {
std::int64_t ms_since_epoch(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
}  // namespace

void to_json(nlohmann::json& j, const result& r) {
  j = nlohmann::json::object();
  j["tag"] = r.tag;
  j["state"] = std::string(to_string(r.state));
  if (r.state == task_state::done) {
    j["value"] = r.value;
  } else if (!r.error_type.empty() || !r.error_message.empty()) {
    j["error"] = {{"type", r.error_type}, {"message", r.error_message}};
  }
  if (r.exit_code) j["exit_code"] = *r.exit_code;
  if (r.signal) j["signal"] = *r.signal;
  j["attempts"] = r.attempts;
  if (!r.attempt_errors.empty()) j["attempt_errors"] = r.attempt_errors;
  j["worker_pid"] = r.worker_pid;
  if (!r.host.empty()) {
    j["host"] = r.host;
    j["rank"] = r.rank;
  }
  if (r.started_at.time_since_epoch().count() != 0) {
    j["started_at_ms"] = ms_since_epoch(r.started_at);
    if (r.finished_at >= r.started_at) {
      j["elapsed_ms"] =
          std::chrono::duration<double, std::milli>(r.finished_at - r.started_at).count();
    }
  }
}

}  // namespace procpool
