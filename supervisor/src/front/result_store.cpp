#include "front/result_store.hpp"

#include <procpool/shared/error.hpp>

namespace procpool::detail {

result_store::reservation result_store::reserve(const std::string& tag, space_policy policy,
                                                const deadline& until, const char* where) {
  std::unique_lock<std::mutex> lock(m_);
  if (!stopped_ && max_held_ == 0) {
    // The common case, with one hash of the tag: no bound, tag not held.
    const auto [it, inserted] = by_tag_.try_emplace(tag);
    if (inserted) return it->second.live();
  }
  for (;;) {
    if (stopped_) throw error(stopped_->first, std::string(where) + ": " + stopped_->second + " (tag '" + tag + "')");
    const auto it = by_tag_.find(tag);
    if (it != by_tag_.end() && !it->second.reserved()) {
      throw error(errc::duplicate_tag, std::string(where) + ": tag '" + tag +
                                           "' is already in the result map (take() it to reuse the tag)");
    }
    const bool busy = it != by_tag_.end();
    const bool at_bound = max_held_ != 0 && by_tag_.size() >= max_held_;
    if (!busy && !at_bound) break;
    const std::string why = busy ? "tag '" + tag + "' is being submitted by another call"
                                 : "the pool holds options::max_retained_results (" + std::to_string(max_held_) +
                                       ") results: take() some first (tag '" + tag + "')";
    if (policy == space_policy::fail_fast || (policy == space_policy::block_for && until.passed())) {
      throw error(errc::full, std::string(where) + ": " + why);
    }
    if (until.infinite()) {
      changed_.wait(lock);
    } else {
      changed_.wait_for(lock, until.remaining());
    }
  }
  return by_tag_.try_emplace(tag).first->second.live();
}

void result_store::publish(reservation r, const std::shared_ptr<task_record>& rec) {
  {
    const std::lock_guard<std::mutex> lock(m_);
    // Delivered (callbacks ran) before the submitting call got here: gone already.
    if (!rec->left_store) {
      *r = rec;
    } else {
      by_tag_.erase(rec->tag);
    }
  }
  changed_.notify_all();
}

void result_store::release(const std::string& tag) {
  {
    const std::lock_guard<std::mutex> lock(m_);
    const auto it = by_tag_.find(tag);
    if (it != by_tag_.end() && it->second.reserved()) by_tag_.erase(it);
  }
  changed_.notify_all();
}

void result_store::stop_intake(errc code, std::string why) {
  {
    const std::lock_guard<std::mutex> lock(m_);
    if (!stopped_) stopped_.emplace(code, std::move(why));
  }
  changed_.notify_all();
}

procpool::result result_store::wait(std::string_view tag, bool take, const char* where) {
  std::shared_ptr<task_record> rec;
  {
    std::unique_lock<std::mutex> lock(m_);
    const auto it = by_tag_.find(std::string(tag));
    if (it == by_tag_.end() || it->second.reserved()) {
      throw error(errc::unknown_tag, std::string(where) + ": unknown tag '" + std::string(tag) + "'");
    }
    if (settled_outcome* settled = it->second.settled()) {
      if (!take && policy_ != retention::drop_once_delivered) return settled->copy(it->first);
      procpool::result r = std::move(*settled).take(it->first);
      by_tag_.erase(it);
      lock.unlock();
      changed_.notify_all();
      return r;
    }
    rec = std::get<0>(it->second.held);  // not settled, not reserved
  }
  if (!take && policy_ != retention::drop_once_delivered) return await_result(*rec);
  // Dropped from the map once ready: when nothing else holds the record then,
  // its value is moved out, not copied.
  await_ready(*rec);
  erase(rec);
  return await_result_last(std::move(rec));
}

std::map<std::string, procpool::result> result_store::wait_all() {
  std::vector<std::shared_ptr<task_record>> recs;
  std::map<std::string, procpool::result> out;
  {
    const std::lock_guard<std::mutex> lock(m_);
    recs.reserve(by_tag_.size());
    for (const auto& [tag, e] : by_tag_) {
      if (const settled_outcome* settled = e.settled()) {
        out.emplace(tag, settled->copy(tag));
      } else if (!e.reserved()) {  // not a submission in progress
        recs.push_back(std::get<0>(e.held));
      }
    }
  }
  for (const auto& rec : recs) {
    out.emplace(rec->tag, await_result(*rec));
    if (policy_ == retention::drop_once_delivered) erase(rec);
  }
  return out;
}

void result_store::delivered(const std::shared_ptr<task_record>& rec) {
  if (policy_ == retention::drop_once_delivered && rec->keyed) erase(rec);
}

void result_store::let_go(std::shared_ptr<task_record>&& rec) noexcept {
  // Declared before the lock: a record freed here is freed with no lock held.
  std::shared_ptr<task_record> mine = std::move(rec);
  // Cheap refusals first: most records let go of are still referred to.
  if (!mine || policy_ != retention::keep_until_taken || !mine->keyed || mine.use_count() != 2) return;
  try {
    const std::lock_guard<std::mutex> lock(m_);
    const auto it = by_tag_.find(mine->tag);
    if (it == by_tag_.end() || !it->second.holds(mine)) return;
    // Records are shared only by copying a reference someone holds, and the
    // store hands out its own only under m_: with two (the entry and `mine`),
    // nobody else can reach the record while m_ is held.
    if (mine.use_count() != 2) return;
    std::optional<settled_outcome> settled;
    {
      const std::lock_guard<std::mutex> rl(mine->m);
      if (!mine->ready) return;
      settled.emplace(std::move(mine->res));
    }
    // Drops the store's reference; `mine` frees the record once m_ is released.
    it->second.held.emplace<settled_outcome>(std::move(*settled));
  } catch (...) {
    // No memory for the compact form: the record stays, whole and correct.
  }
}

void result_store::erase(const std::shared_ptr<task_record>& rec) {
  if (!rec->keyed) return;
  {
    const std::lock_guard<std::mutex> lock(m_);
    erase_locked(rec);
  }
  changed_.notify_all();
}

void result_store::erase_locked(const std::shared_ptr<task_record>& rec) {
  rec->left_store = true;
  const auto it = by_tag_.find(rec->tag);
  if (it != by_tag_.end() && it->second.holds(rec)) by_tag_.erase(it);
}

std::size_t result_store::size() const {
  const std::lock_guard<std::mutex> lock(m_);
  return by_tag_.size();
}

}  // namespace procpool::detail
