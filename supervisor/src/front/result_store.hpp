// The result store: the records of keyed tags (submit, apply), their
// retention, and waiting for them by tag.
//
// A tag exists in the store only once its submission was accepted. While a
// submission is in progress its tag is reserved: invisible to result() and
// take() (unknown_tag), and a concurrent submission of the same tag waits for
// the first one's outcome (accepted: duplicate_tag; refused: it goes ahead).
// With options::max_retained_results, reservations and held tags together
// stay under the bound: a submission waits for room as its policy says.
//
// Under keep_until_taken, a held tag whose record nobody else refers to any
// more (its handle is gone, its callbacks ran, nobody waits on it) keeps only
// its outcome, compact (settled_outcome), and its record is freed.
#pragma once

#include "backend/backend.hpp"
#include "front/settled_outcome.hpp"
#include "front/task_record.hpp"

#include <procpool/shared/detail/deadline.hpp>

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

namespace procpool::detail {

class result_store {
 public:
  result_store(retention policy, std::size_t max_held) : policy_(policy), max_held_(max_held) {}

  [[nodiscard]] retention policy() const noexcept { return policy_; }

  /// A tag reserved for a submission in progress (see reserve()).
  using reservation = std::shared_ptr<task_record>*;

  /// Reserves `tag` for a submission in progress. Blocks as `policy` says
  /// while the same tag is being submitted elsewhere or the store is at its
  /// bound. Throws procpool::error: duplicate_tag (held), full.
  [[nodiscard]] reservation reserve(const std::string& tag, space_policy policy, const deadline& until,
                                    const char* where);
  /// The reserved tag was accepted: `rec` becomes visible under it.
  void publish(reservation r, const std::shared_ptr<task_record>& rec);
  /// The reserved tag was refused: it never existed.
  void release(const std::string& tag);
  /// The pool takes no more submissions: reserve() refuses with `code` and
  /// `why`, and callers waiting in it wake to do so.
  void stop_intake(errc code, std::string why);

  /// Blocks until `tag` is ready; its outcome. With `take`, or under
  /// drop_once_delivered, the tag leaves the store. Throws unknown_tag.
  [[nodiscard]] procpool::result wait(std::string_view tag, bool take, const char* where);
  /// Blocks until every tag held now is ready; their outcomes by tag.
  [[nodiscard]] std::map<std::string, procpool::result> wait_all();
  /// `rec` was delivered (its handle returned it, or its callbacks ran):
  /// under drop_once_delivered it leaves the store.
  void delivered(const std::shared_ptr<task_record>& rec);
  /// The caller lets go of `rec` (a handle going away, the front or the
  /// callback thread done with a finished task). When `rec` is ready and held
  /// under keep_until_taken with no other reference than the store's, its
  /// entry keeps the outcome alone and the record is freed. When two let go
  /// at the same moment, each may see the other's reference: the record then
  /// stays whole, which costs memory, never an outcome.
  void let_go(std::shared_ptr<task_record>&& rec) noexcept;
  /// Removes `rec` whatever the policy (apply() never retains).
  void erase(const std::shared_ptr<task_record>& rec);

  [[nodiscard]] std::size_t size() const;

 private:
  /// One tag of the store: its live record (null while reserved: a
  /// submission in progress, invisible to result()/take()/results()), or its
  /// settled outcome. One variant, not both side by side: a held result's
  /// memory is what a user pays per tag not yet taken.
  struct entry {
    std::variant<std::shared_ptr<task_record>, settled_outcome> held;

    /// The live record's slot; null once settled.
    [[nodiscard]] std::shared_ptr<task_record>* live() noexcept { return std::get_if<0>(&held); }
    [[nodiscard]] const settled_outcome* settled() const noexcept { return std::get_if<1>(&held); }
    [[nodiscard]] settled_outcome* settled() noexcept { return std::get_if<1>(&held); }
    [[nodiscard]] bool reserved() const noexcept {
      const auto* rec = std::get_if<0>(&held);
      return rec != nullptr && !*rec;
    }
    [[nodiscard]] bool holds(const std::shared_ptr<task_record>& rec) const noexcept {
      const auto* mine = std::get_if<0>(&held);
      return mine != nullptr && *mine == rec;
    }
  };

  void erase_locked(const std::shared_ptr<task_record>& rec);

  const retention policy_;
  std::optional<std::pair<errc, std::string>> stopped_;  // guarded by m_
  const std::size_t max_held_;  ///< 0: no bound
  mutable std::mutex m_;
  std::condition_variable changed_;  // a tag left, or a reservation ended
  /// Held and reserved tags. Elements never move (a reservation points at
  /// its own record pointer). guarded by m_
  std::unordered_map<std::string, entry> by_tag_;
};

}  // namespace procpool::detail
