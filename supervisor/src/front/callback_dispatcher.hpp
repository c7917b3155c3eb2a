// The callback thread: runs on_done / on_error of finished tags in the order
// they finished, then marks each ready. It shares the front's mutex (its
// queue and counters are part of the front's quiescence: join() waits for
// them) and never holds it while a callback runs.
#pragma once

#include "front/task_record.hpp"

#include <procpool/supervisor/options.hpp>

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace procpool::detail {

class callback_dispatcher {
 public:
  /// `after_delivery` runs (without `m` held) once a tag's callbacks ran,
  /// and is given the dispatcher's reference to the record.
  callback_dispatcher(const options& opts, std::mutex& m, std::condition_variable& changed,
                      std::function<void(std::shared_ptr<task_record>&&)> after_delivery)
      : opts_(opts), m_(m), changed_(changed), after_delivery_(std::move(after_delivery)) {}

  void start();
  /// Runs what is queued, then stops the thread. Not from a callback.
  void stop() noexcept;

  /// Queues a terminal record whose callbacks must run. Requires: m held.
  void enqueue_locked(std::shared_ptr<task_record> rec);
  /// Nothing queued and no callback running. Requires: m held.
  [[nodiscard]] bool idle_locked() const noexcept { return queue_.empty() && !running_; }
  /// Callbacks that threw. Requires: m held.
  [[nodiscard]] std::size_t errors_locked() const noexcept { return errors_; }
  /// Whether the calling thread is this dispatcher's.
  [[nodiscard]] bool is_this_thread() const noexcept { return std::this_thread::get_id() == id_; }

 private:
  void loop() noexcept;
  /// Runs one record's callbacks; true if a callback threw.
  bool run_one(std::shared_ptr<task_record> rec, callback on_done, callback on_error) noexcept;

  const options& opts_;
  std::mutex& m_;
  std::condition_variable& changed_;  // notified when idle_locked() may have changed
  std::function<void(std::shared_ptr<task_record>&&)> after_delivery_;
  std::condition_variable work_;
  std::deque<std::shared_ptr<task_record>> queue_;  // guarded by m_
  bool running_ = false;                             // guarded by m_
  bool stop_ = false;                                // guarded by m_
  std::size_t errors_ = 0;                           // guarded by m_
  std::thread thread_;
  std::thread::id id_;
};

}  // namespace procpool::detail
