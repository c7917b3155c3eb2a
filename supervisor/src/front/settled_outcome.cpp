#include "front/settled_outcome.hpp"

#include <utility>

namespace procpool::detail {

bool settled_outcome::fits_inline(const procpool::result& r) noexcept {
  return r.state == task_state::done && r.error_type.empty() && r.error_message.empty() && !r.error_code &&
         !r.exit_code && !r.signal && r.attempt_errors.empty() && r.rank == 0 && r.host.empty();
}

settled_outcome::settled_outcome(procpool::result&& r) {
  if (!fits_inline(r)) {
    whole_ = std::make_unique<procpool::result>();  // may throw: `r` is untouched then
    *whole_ = std::move(r);
    std::string().swap(whole_->tag);
    return;
  }
  value_ = std::move(r.value);
  started_at_ = r.started_at;
  finished_at_ = r.finished_at;
  worker_pid_ = r.worker_pid;
  attempts_ = r.attempts;
}

procpool::result settled_outcome::inline_result(nlohmann::json value) const {
  procpool::result r;
  r.state = task_state::done;
  r.value = std::move(value);
  r.started_at = started_at_;
  r.finished_at = finished_at_;
  r.worker_pid = worker_pid_;
  r.attempts = attempts_;
  return r;
}

procpool::result settled_outcome::copy(const std::string& tag) const {
  procpool::result r = whole_ ? *whole_ : inline_result(value_);
  r.tag = tag;
  return r;
}

procpool::result settled_outcome::take(const std::string& tag) && {
  procpool::result r = whole_ ? std::move(*whole_) : inline_result(std::move(value_));
  whole_.reset();
  r.tag = tag;
  return r;
}

}  // namespace procpool::detail
