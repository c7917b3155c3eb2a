#include "front/callback_dispatcher.hpp"

#include "front/diagnostics.hpp"

#include <procpool/shared/detail/fault.hpp>

#include <exception>

namespace procpool::detail {
namespace {
thread_local bool running_callbacks = false;
}  // namespace

bool on_callback_thread() noexcept { return running_callbacks; }

void callback_dispatcher::start() {
  thread_ = std::thread([this] { loop(); });
  id_ = thread_.get_id();
}

void callback_dispatcher::stop() noexcept {
  {
    const std::lock_guard<std::mutex> lock(m_);
    stop_ = true;
  }
  work_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void callback_dispatcher::enqueue_locked(std::shared_ptr<task_record> rec) {
  queue_.push_back(std::move(rec));
  work_.notify_one();
}

void callback_dispatcher::loop() noexcept {
  running_callbacks = true;
  std::unique_lock<std::mutex> lock(m_);
  // Loop state: m_ held except while a record's callbacks run.
  for (;;) {
    work_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and nothing left
    std::shared_ptr<task_record> rec = std::move(queue_.front());
    queue_.pop_front();
    running_ = true;
    // The closures leave the record: a finished tag keeps none of what they captured.
    callback on_done = std::move(rec->on_done);
    callback on_error = std::move(rec->on_error);
    rec->on_done = nullptr;
    rec->on_error = nullptr;
    lock.unlock();
    const bool threw = run_one(std::move(rec), std::move(on_done), std::move(on_error));
    lock.lock();
    running_ = false;
    if (threw) ++errors_;
    changed_.notify_all();
  }
}

bool callback_dispatcher::run_one(std::shared_ptr<task_record> rec, callback on_done,
                                  callback on_error) noexcept {
  bool threw = false;
  try {
    fault_throw("callback_loop");
    procpool::result r;
    {
      const std::lock_guard<std::mutex> rl(rec->m);
      r = rec->res;
    }
    try {
      if (r.ok()) {
        if (on_done) on_done(r);
      } else if (on_error) {
        on_error(r);
      }
    } catch (const std::exception& e) {
      threw = true;
      diagnose(opts_, "callback for tag '" + rec->tag + "' threw " + e.what());
    } catch (...) {
      threw = true;
      diagnose(opts_, "callback for tag '" + rec->tag + "' threw a non-standard exception");
    }
  } catch (const std::exception& e) {
    // A fault of the dispatcher itself (not of a callback): the tag still
    // becomes ready below, so no waiter hangs.
    diagnose(opts_, "callback thread fault for tag '" + rec->tag + "': " + e.what());
  } catch (...) {
    diagnose(opts_, "callback thread fault for tag '" + rec->tag + "'");
  }
  {
    const std::lock_guard<std::mutex> rl(rec->m);
    rec->ready = true;
  }
  rec->cv.notify_all();
  try {
    // Handed over, not copied: a held tag nobody else refers to may keep only its outcome.
    after_delivery_(std::move(rec));
  } catch (...) {
    diagnose(opts_, "callback thread: releasing tag '" + (rec ? rec->tag : std::string("?")) + "' failed");
  }
  return threw;
}

}  // namespace procpool::detail
