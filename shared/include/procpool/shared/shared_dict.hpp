// procpool::shared_dict: a string -> JSON map in the pool's shared-state arena
// (Python's multiprocessing.Manager().dict(), without the manager process: every
// call is a memory operation under a robust lock, not a round trip to a server).
//
// Lifecycle
// ---------
// The supervisor creates it with a fixed capacity (pool.make_dict("d", 1000),
// or shared_dict::create on an arena); anyone opens it by name (ctx.dict("d")
// in a task, shared_dict::open). A handle is a small copyable pointer into the
// arena, valid as long as the pool lives.
//
//   auto d = ctx.dict("scores");
//   d.set("alice", 100 + i);
//   int v = d.get("alice", 0).get<int>();
//   d.update_with("hits", [](std::optional<nlohmann::json> old) {  // atomic
//     return old ? *old + 1 : nlohmann::json(1);
//   });
//
// Capacity is fixed at creation and fully usable: `capacity` entries, each at
// most `max_entry_bytes` of key plus MessagePack-encoded value. A new key past
// capacity is refused with errc::full; a too-large entry with errc::too_large;
// neither changes the dict. Storage is preallocated: no call allocates shared
// memory (only private buffers for encoding).
//
// Every operation is atomic with respect to every other (one internal robust
// lock; values are encoded before and decoded after it is taken, so JSON work
// never happens under the lock, except in update_with). All members are
// thread-safe and may block briefly on that lock.
//
// Crash safety: a process killed at any instruction inside a call leaves the
// dict consistent: the entry it was writing is either entirely the old value or
// entirely the new one. The next caller repairs the dict's bookkeeping (its
// free list and counts) before going on. If the storage itself does not check
// out (it was overwritten by a stray write), calls throw errc::segment_poisoned.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace procpool {

namespace detail {
class shared_state_arena;
struct dict_header;
}  // namespace detail

class shared_dict {
 public:
  /// The default most bytes per entry (key + encoded value).
  static constexpr std::size_t default_max_entry_bytes = 1024;

  /// Supervisor: creates `name` holding up to `capacity` entries of at most
  /// `max_entry_bytes` each. Throws procpool::error: invalid_argument (bad or
  /// existing name, capacity 0 or over 2^28, called from a worker), full (no
  /// room in the arena; the message gives the sizes).
  static shared_dict create(detail::shared_state_arena& arena, std::string_view name,
                            std::size_t capacity,
                            std::size_t max_entry_bytes = default_max_entry_bytes);
  /// Anyone: opens `name`. Non-blocking. Throws procpool::error(invalid_argument)
  /// if there is none or it is not a dict.
  static shared_dict open(detail::shared_state_arena& arena, std::string_view name);

  /// The value of `key`, or nullopt.
  [[nodiscard]] std::optional<nlohmann::json> get(std::string_view key) const;
  /// The value of `key`, or `fallback`.
  [[nodiscard]] nlohmann::json get(std::string_view key, const nlohmann::json& fallback) const;
  /// Inserts or replaces. Throws procpool::error: too_large (key + encoded
  /// value over max_entry_bytes), full (a new key and the dict holds capacity
  /// entries).
  void set(std::string_view key, const nlohmann::json& value);
  /// Sets every member of the JSON object `values`, all under one lock hold.
  /// Checked first: if any entry is too large, or the new keys would not fit,
  /// nothing is set (too_large / full). invalid_argument if not an object.
  void update(const nlohmann::json& values);
  /// Removes `key`; returns whether it was there.
  bool erase(std::string_view key);
  /// Removes `key` and returns its value, or nullopt.
  std::optional<nlohmann::json> pop(std::string_view key);
  [[nodiscard]] bool contains(std::string_view key) const;
  [[nodiscard]] std::size_t size() const;
  [[nodiscard]] bool empty() const { return size() == 0; }
  /// Removes every entry. A process killed inside clear() leaves every entry
  /// or none.
  void clear();

  /// Snapshots, taken under one lock hold (consistent with each other), in an
  /// unspecified order.
  [[nodiscard]] std::vector<std::string> keys() const;
  [[nodiscard]] std::vector<nlohmann::json> values() const;
  [[nodiscard]] std::vector<std::pair<std::string, nlohmann::json>> items() const;
  /// The whole dict as one JSON object.
  [[nodiscard]] nlohmann::json snapshot() const;

  /// Sets `key` to `desired` if its current value is `expected` (nullopt: the
  /// key is absent); returns whether it did. Values are compared by their
  /// MessagePack encoding: 1 and 1.0 differ, as do objects with other members.
  /// Throws too_large / full as set().
  bool compare_and_set(std::string_view key, const std::optional<nlohmann::json>& expected,
                       const nlohmann::json& desired);

  /// Sets `key` to fn(current value or nullopt) and returns the new value,
  /// atomically: `fn` runs WITH THE DICT LOCKED, so every other call on this
  /// dict, in every process, waits for it. Keep it short; it must not call this
  /// dict (invalid_argument) or block. If `fn` throws, nothing changes and the
  /// exception propagates; too_large / full as set(). If the process dies inside
  /// `fn`, the entry keeps its old value.
  nlohmann::json update_with(std::string_view key,
                             const std::function<nlohmann::json(std::optional<nlohmann::json>)>& fn);

  [[nodiscard]] std::size_t capacity() const noexcept;
  [[nodiscard]] std::size_t max_entry_bytes() const noexcept;
  [[nodiscard]] std::string_view name() const noexcept { return name_; }

 private:
  shared_dict(detail::dict_header* h, const char* name) noexcept : h_(h), name_(name) {}
  detail::dict_header* h_;
  const char* name_;
};

}  // namespace procpool
