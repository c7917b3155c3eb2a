// MessagePack encodings of the MPI backend's messages (see mpi_wire.hpp).
#include "backend/mpi/mpi_wire.hpp"

#include <procpool/shared/error.hpp>

#include <optional>
#include <utility>

namespace procpool::detail::mpi {
namespace {

using json = nlohmann::json;

std::int64_t ns_of(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

std::chrono::system_clock::time_point time_of(std::int64_t ns) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(ns)));
}

template <class T>
json optional_to_wire(const std::optional<T>& v) {
  return v ? json(static_cast<std::int64_t>(*v)) : json(nullptr);
}

json result_to_wire(std::uint64_t id, const procpool::result& r) {
  return json::array({id, static_cast<int>(r.state), r.value, r.error_type, r.error_message,
                      optional_to_wire(r.error_code), optional_to_wire(r.exit_code), optional_to_wire(r.signal),
                      r.attempts, r.attempt_errors, r.worker_pid, ns_of(r.started_at), ns_of(r.finished_at)});
}

finished_task result_from_wire(const json& a) {
  procpool::result r;
  r.state = static_cast<task_state>(a.at(1).get<int>());
  r.value = a.at(2);
  r.error_type = a.at(3).get<std::string>();
  r.error_message = a.at(4).get<std::string>();
  if (!a.at(5).is_null()) r.error_code = static_cast<errc>(a.at(5).get<int>());
  if (!a.at(6).is_null()) r.exit_code = a.at(6).get<int>();
  if (!a.at(7).is_null()) r.signal = a.at(7).get<int>();
  r.attempts = a.at(8).get<int>();
  r.attempt_errors = a.at(9).get<std::vector<std::string>>();
  r.worker_pid = a.at(10).get<int>();
  r.started_at = time_of(a.at(11).get<std::int64_t>());
  r.finished_at = time_of(a.at(12).get<std::int64_t>());
  return {a.at(0).get<std::uint64_t>(), std::move(r)};
}

}  // namespace

owned_task owned_task::from(const task_message& m) {
  return owned_task{m.id, m.attempt, m.flags, std::string(m.tag), std::string(m.task),
                    std::vector<std::uint8_t>(m.payload.begin(), m.payload.end()), m.timeout};
}

task_message owned_task::view() const {
  task_message m;
  m.id = id;
  m.attempt = attempt;
  m.flags = flags;
  m.tag = tag;
  m.task = task;
  m.payload = payload;
  m.timeout = timeout;
  return m;
}

std::vector<std::uint8_t> pack(const json& j) { return json::to_msgpack(j); }

json unpack(std::span<const std::uint8_t> bytes) {
  try {
    return json::from_msgpack(bytes.begin(), bytes.end());
  } catch (const json::exception& e) {
    throw error(errc::payload_invalid, std::string("mpi: a message that is not MessagePack: ") + e.what());
  }
}

json to_wire(const hello& h) {
  return {{"host", h.host}, {"pid", h.pid}, {"version", h.version}, {"registry", h.registry}};
}

hello hello_from(const json& j) {
  return hello{j.at("host").get<std::string>(), j.at("pid").get<int>(), j.at("version").get<std::string>(),
               j.at("registry").get<std::uint64_t>()};
}

json options_to_wire(const options& o) {
  return {{"workers", o.workers},
          {"prefetch", o.mpi_prefetch},
          {"max_payload_bytes", o.max_payload_bytes},
          {"initializer", o.initializer},
          {"initializer_args", o.initializer_args},
          {"max_tasks_per_worker", o.max_tasks_per_worker},
          {"kill_grace_ms", o.kill_grace.count()},
          {"worker_memory_limit", o.worker_memory_limit},
          {"worker_cpu_seconds", o.worker_cpu_seconds},
          {"terminate_grace_ms", o.terminate_grace.count()},
          {"max_start_failures", o.max_start_failures},
          {"start_failure_window_ms", o.start_failure_window.count()},
          {"start_timeout_ms", o.start_timeout.count()},
          {"worker_executable", o.worker_executable},
          {"heartbeat_ms", o.mpi_heartbeat_limit.count()}};
}

options options_from(const json& j) {
  options o;
  o.mode = mode::process;
  o.workers = j.at("workers").get<int>();
  o.mpi_prefetch = j.at("prefetch").get<int>();
  o.max_payload_bytes = j.at("max_payload_bytes").get<std::size_t>();
  o.initializer = j.at("initializer").get<std::string>();
  o.initializer_args = j.at("initializer_args");
  o.max_tasks_per_worker = j.at("max_tasks_per_worker").get<std::size_t>();
  o.kill_grace = std::chrono::milliseconds(j.at("kill_grace_ms").get<std::int64_t>());
  o.worker_memory_limit = j.at("worker_memory_limit").get<std::size_t>();
  o.worker_cpu_seconds = j.at("worker_cpu_seconds").get<std::size_t>();
  o.terminate_grace = std::chrono::milliseconds(j.at("terminate_grace_ms").get<std::int64_t>());
  o.max_start_failures = j.at("max_start_failures").get<int>();
  o.start_failure_window = std::chrono::milliseconds(j.at("start_failure_window_ms").get<std::int64_t>());
  o.start_timeout = std::chrono::milliseconds(j.at("start_timeout_ms").get<std::int64_t>());
  o.worker_executable = j.at("worker_executable").get<std::string>();
  o.mpi_heartbeat_limit = std::chrono::milliseconds(j.at("heartbeat_ms").get<std::int64_t>());
  return o;
}

std::vector<std::uint8_t> pack_tasks(const std::vector<owned_task>& batch) {
  json a = json::array();
  for (const owned_task& t : batch) {
    a.push_back(json::array({t.id, t.attempt, t.flags, t.tag, t.task, json::binary(t.payload),
                             t.timeout.count()}));
  }
  return pack(a);
}

std::vector<owned_task> unpack_tasks(std::span<const std::uint8_t> bytes) {
  const json a = unpack(bytes);
  std::vector<owned_task> out;
  out.reserve(a.size());
  for (const json& t : a) {
    owned_task m;
    m.id = t.at(0).get<std::uint64_t>();
    m.attempt = t.at(1).get<std::uint32_t>();
    m.flags = t.at(2).get<std::uint32_t>();
    m.tag = t.at(3).get<std::string>();
    m.task = t.at(4).get<std::string>();
    const auto& bin = t.at(5).get_binary();
    m.payload.assign(bin.begin(), bin.end());
    m.timeout = std::chrono::milliseconds(t.at(6).get<std::int64_t>());
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<std::uint8_t> pack_results(const std::vector<finished_task>& done,
                                       const std::vector<started_task>& started, const agent_state& s) {
  json r = json::array();
  for (const auto& [id, res] : done) r.push_back(result_to_wire(id, res));
  json b = json::array();
  for (const started_task& t : started) b.push_back(json::array({t.id, t.worker_pid, t.attempt}));
  const json st = json::array({s.workers_alive, s.workers_idle, s.workers_started, s.worker_exits,
                               s.worker_deaths, s.start_failures, s.queued, s.running, s.stopped, s.failure});
  return pack(json{{"r", std::move(r)}, {"b", std::move(b)}, {"s", st}});
}

void unpack_results(std::span<const std::uint8_t> bytes, std::vector<finished_task>& done,
                    std::vector<started_task>& started, agent_state& s) {
  const json j = unpack(bytes);
  for (const json& a : j.at("r")) done.push_back(result_from_wire(a));
  for (const json& a : j.at("b")) {
    started.push_back({a.at(0).get<std::uint64_t>(), a.at(1).get<int>(), a.at(2).get<std::uint32_t>()});
  }
  const json& st = j.at("s");
  s.workers_alive = st.at(0).get<std::size_t>();
  s.workers_idle = st.at(1).get<std::size_t>();
  s.workers_started = st.at(2).get<std::size_t>();
  s.worker_exits = st.at(3).get<std::size_t>();
  s.worker_deaths = st.at(4).get<std::size_t>();
  s.start_failures = st.at(5).get<std::size_t>();
  s.queued = st.at(6).get<std::size_t>();
  s.running = st.at(7).get<std::size_t>();
  s.stopped = st.at(8).get<bool>();
  s.failure = st.at(9).get<std::string>();
}

std::vector<std::uint8_t> pack_control(control_op op, std::chrono::milliseconds grace) {
  return pack(json::array({static_cast<int>(op), grace.count()}));
}

control_op unpack_control(std::span<const std::uint8_t> bytes, std::chrono::milliseconds& grace) {
  const json a = unpack(bytes);
  grace = std::chrono::milliseconds(a.at(1).get<std::int64_t>());
  return static_cast<control_op>(a.at(0).get<int>());
}

}  // namespace procpool::detail::mpi
