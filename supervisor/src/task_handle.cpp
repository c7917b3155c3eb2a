#include "front/pool_front.hpp"
#include "front/task_record.hpp"

#include <procpool/supervisor/task_handle.hpp>

namespace procpool {

task_handle::~task_handle() {
  // Cheap refusals first: most handles are not the last one besides the store's.
  if (!record_ || record_.use_count() != 2 || !record_->keyed || record_->drop_on_delivery) return;
  if (const auto p = record_->pool.lock()) p->let_go(std::move(record_));
}

const detail::task_record& task_handle::record() const {
  if (!record_) throw error(errc::invalid_argument, "task_handle: empty handle");
  return *record_;
}

const std::string& task_handle::tag() const { return record().tag; }

task_state task_handle::state() const {
  const detail::task_record& r = record();
  {
    const std::lock_guard<std::mutex> lock(r.m);
    if (r.terminal) return r.res.state;
  }
  if (const auto p = r.pool.lock()) return p->live_state(r);
  return task_state::queued;
}

bool task_handle::ready() const {
  const detail::task_record& r = record();
  const std::lock_guard<std::mutex> lock(r.m);
  return r.ready;
}

void task_handle::wait() const { (void)detail::await_result(record()); }

bool task_handle::wait_for(std::chrono::milliseconds timeout) const {
  const detail::task_record& r = record();
  const bool on_cb = detail::on_callback_thread();
  std::unique_lock<std::mutex> lock(r.m);
  return r.cv.wait_for(lock, timeout, [&] { return r.ready || (on_cb && r.terminal); });
}

nlohmann::json task_handle::get() const {
  procpool::result res = result();
  if (res.state != task_state::done) {
    throw task_error(res.tag, res.state, res.error_type, res.error_message, res.worker_pid);
  }
  return std::move(res.value);
}

procpool::result task_handle::result() const {
  procpool::result r = detail::await_result(record());
  // Delivered: under retention::drop_once_delivered the tag leaves the pool.
  if (record_->drop_on_delivery) {
    if (const auto p = record_->pool.lock()) p->delivered(record_);
  }
  return r;
}

}  // namespace procpool
