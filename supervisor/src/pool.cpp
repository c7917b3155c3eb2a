#include "front/pool_front.hpp"
#include <procpool/supervisor/pool.hpp>

#include <new>

namespace procpool {

using detail::space_policy;
using detail::submit_request;

pool::pool(options opts) : impl_(std::make_shared<detail::pool_front>(std::move(opts))) {
  impl_->start();
}

pool::~pool() { impl_->shutdown(); }

namespace {
submit_request request(std::string tag, std::string_view task, nlohmann::json args, callback on_done,
                       callback on_error, space_policy policy) {
  submit_request r;
  r.tag = std::move(tag);
  r.task = task;
  r.args = std::move(args);
  r.on_done = std::move(on_done);
  r.on_error = std::move(on_error);
  r.policy = policy;
  return r;
}
}  // namespace

task_handle pool::submit(std::string tag, std::string_view task, nlohmann::json args, callback on_done,
                         callback on_error) {
  return impl_->submit(request(std::move(tag), task, std::move(args), std::move(on_done),
                               std::move(on_error), space_policy::block));
}

task_handle pool::submit(std::string tag, std::string_view task, nlohmann::json args,
                         const task_options& per_task, callback on_done, callback on_error) {
  submit_request r = request(std::move(tag), task, std::move(args), std::move(on_done),
                             std::move(on_error), space_policy::block);
  r.per_task = per_task;
  return impl_->submit(std::move(r));
}

task_handle pool::submit_for(std::chrono::milliseconds timeout, std::string tag, std::string_view task,
                             nlohmann::json args, const task_options& per_task, callback on_done,
                             callback on_error) {
  submit_request r = request(std::move(tag), task, std::move(args), std::move(on_done),
                             std::move(on_error), space_policy::block_for);
  r.timeout = timeout;
  r.per_task = per_task;
  return impl_->submit(std::move(r));
}

task_handle pool::try_submit(std::string tag, std::string_view task, nlohmann::json args,
                             callback on_done, callback on_error) {
  return impl_->submit(request(std::move(tag), task, std::move(args), std::move(on_done),
                               std::move(on_error), space_policy::fail_fast));
}

task_handle pool::try_submit(std::string tag, std::string_view task, nlohmann::json args,
                             std::error_code& ec) noexcept {
  try {
    task_handle h = impl_->submit(request(std::move(tag), task, std::move(args), {}, {}, space_policy::fail_fast));
    ec.clear();
    return h;
  } catch (const std::system_error& e) {
    ec = e.code();
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  } catch (...) {
    ec = make_error_code(errc::system);
  }
  return {};
}

task_handle pool::submit_for(std::chrono::milliseconds timeout, std::string tag, std::string_view task,
                             nlohmann::json args, callback on_done, callback on_error) {
  submit_request r = request(std::move(tag), task, std::move(args), std::move(on_done),
                             std::move(on_error), space_policy::block_for);
  r.timeout = timeout;
  return impl_->submit(std::move(r));
}

nlohmann::json pool::apply(std::string tag, std::string_view task, nlohmann::json args) {
  task_handle h = submit(std::move(tag), task, std::move(args));
  // apply() never retains: the tag is free again once it returns, whatever
  // the retention policy.
  struct forget_on_exit {
    detail::pool_front& front;
    std::shared_ptr<detail::task_record> rec;
    ~forget_on_exit() { front.forget(rec); }
  } forget{*impl_, h.record_};
  return h.get();
}

std::vector<nlohmann::json> pool::map(std::string_view task, const std::vector<nlohmann::json>& inputs,
                                      std::size_t chunksize) {
  return impl_->map(task, inputs, false, chunksize);
}

std::vector<nlohmann::json> pool::starmap(std::string_view task,
                                          const std::vector<nlohmann::json>& arg_lists,
                                          std::size_t chunksize) {
  return impl_->map(task, arg_lists, true, chunksize);
}

void pool::map_with(std::string_view task, detail::map_codec& codec, std::size_t chunksize) {
  impl_->map_with(task, codec, chunksize);
}

unordered_results pool::imap_unordered_from(std::string_view task,
                                            std::function<std::optional<nlohmann::json>()> source,
                                            std::size_t window) {
  if (window == 0) window = 2 * static_cast<std::size_t>(impl_->config().workers);
  return unordered_results(*this, std::string(task), std::move(source), window);
}

procpool::result pool::result(std::string_view tag) { return impl_->wait_tag(tag, false); }
procpool::result pool::take(std::string_view tag) { return impl_->wait_tag(tag, true); }
std::map<std::string, procpool::result> pool::results() { return impl_->results(); }
void pool::close() { impl_->close(); }
std::size_t pool::cancel_queued() { return impl_->cancel_queued(); }
void pool::join() { impl_->join(); }
void pool::terminate() { impl_->terminate(); }
void pool::terminate(std::chrono::milliseconds grace) { impl_->terminate(grace); }
pool_stats pool::stats() const { return impl_->stats(); }
const options& pool::config() const noexcept { return impl_->config(); }

// ---- shared state --------------------------------------------------------------

detail::shared_state_arena& pool::shared_state() const {
  if (impl_->config().backend == backend_kind::mpi) {
    throw error(errc::invalid_argument,
                "pool: shared-state objects (make_dict, make_array, make_queue, make_event, make_lock, "
                "make_rlock) live on one node; options::backend = mpi refuses them");
  }
  return impl_->shared_state();
}

shared_dict pool::make_dict(std::string_view name, std::size_t capacity,
                            std::size_t max_entry_bytes) {
  return shared_dict::create(shared_state(), name, capacity, max_entry_bytes);
}
shared_queue pool::make_queue(std::string_view name, std::int64_t maxsize,
                              std::size_t storage_bytes) {
  return shared_queue::create(shared_state(), name, maxsize, storage_bytes);
}
procpool::event pool::make_event(std::string_view name) {
  return procpool::event::create(shared_state(), name);
}
procpool::lock pool::make_lock(std::string_view name) {
  return procpool::lock::create(shared_state(), name);
}
procpool::rlock pool::make_rlock(std::string_view name) {
  return procpool::rlock::create(shared_state(), name);
}
shared_dict pool::dict(std::string_view name) { return shared_dict::open(shared_state(), name); }
shared_queue pool::queue(std::string_view name) { return shared_queue::open(shared_state(), name); }
procpool::event pool::event(std::string_view name) {
  return procpool::event::open(shared_state(), name);
}
procpool::lock pool::lock(std::string_view name) { return procpool::lock::open(shared_state(), name); }
procpool::rlock pool::rlock(std::string_view name) {
  return procpool::rlock::open(shared_state(), name);
}

// ---- imap_unordered ------------------------------------------------------------------

unordered_results::unordered_results(pool& p, std::string task,
                                     std::function<std::optional<nlohmann::json>()> src,
                                     std::size_t window)
    : pool_(&p),
      task_(std::move(task)),
      source_(std::move(src)),
      window_(window),
      channel_(std::make_shared<detail::completion_channel>()) {}

unordered_results::unordered_results(unordered_results&&) noexcept = default;
unordered_results& unordered_results::operator=(unordered_results&&) noexcept = default;
unordered_results::~unordered_results() = default;

std::optional<procpool::result> unordered_results::next() {
  if (channel_ == nullptr) throw error(errc::invalid_argument, "unordered_results: moved from");
  while (!exhausted_ && in_flight_ < window_) {
    std::optional<nlohmann::json> item = source_();
    if (!item) {
      exhausted_ = true;
      break;
    }
    submit_request r;
    r.tag = std::to_string(next_index_);
    r.task = task_;
    r.args = std::move(*item);
    r.keyed = false;
    r.channel = channel_;
    (void)pool_->impl_->submit(std::move(r));
    ++next_index_;
    ++in_flight_;
  }
  if (in_flight_ == 0) return std::nullopt;
  std::unique_lock<std::mutex> lock(channel_->m);
  channel_->cv.wait(lock, [&] { return !channel_->finished.empty(); });
  procpool::result r = std::move(channel_->finished.front());
  channel_->finished.pop_front();
  --in_flight_;
  return r;
}

}  // namespace procpool
