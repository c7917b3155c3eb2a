// shared_dict: an open-addressing hash index over fixed entry slots.
//
//   [dict_header | index 0 | index 1 | slot 0 | slot 1 | ... slot capacity]
//
// An index bucket is one 64-bit word: the high half of the key's hash and the
// slot number + 1 (0 = empty, all ones = tombstone). Every change to the live
// index is one 64-bit store. Write order of a set():
//   1. take a slot no bucket references (free list, or the never-used `fresh`);
//   2. write key and value into it;
//   3. store the bucket (the publication);
//   4. put the replaced slot, if any, on the free list; fix the counts.
// Dying before 3 leaves the old value; after 3, the new one. Steps 1 and 4
// touch only derived data (free list, count, tombstones), which repair_dict()
// rebuilds from the index: mark every referenced slot, sweep the rest into the
// free list. A rehash fills the inactive index and switches `active` with one
// store, so dying mid-rehash leaves the old index live; clear() switches to an
// emptied inactive index the same way.
#include "shared_dict_entries.hpp"

#include <procpool/shared/detail/codec.hpp>
#include <procpool/shared/detail/container_guard.hpp>
#include <procpool/shared/detail/fault.hpp>
#include <procpool/shared/detail/shared_containers.hpp>
#include <procpool/shared/detail/shared_state_arena.hpp>
#include <procpool/shared/error.hpp>
#include <procpool/shared/shared_dict.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstring>
#include <limits>
#include <new>
#include <span>
#include <string>

namespace procpool {
namespace detail {
namespace {

constexpr const char* kind_name = "dict";
constexpr std::uint32_t no_slot = std::numeric_limits<std::uint32_t>::max();
constexpr std::size_t npos = std::numeric_limits<std::size_t>::max();
// Marks used by repair_dict() in dict_slot::next_free while it runs.
constexpr std::uint32_t mark_unreferenced = 0xFFFFFFFFU;
constexpr std::uint32_t mark_referenced = 0xFFFFFFFEU;
constexpr std::size_t max_capacity = std::size_t{1} << 28U;

constexpr std::uint64_t align_up(std::uint64_t n, std::uint64_t a) noexcept {
  return (n + a - 1) / a * a;
}

// A killed process observes its own stores in program order only if the
// compiler keeps them in that order; other processes read under the mutex.
inline void ordered() noexcept { std::atomic_signal_fence(std::memory_order_seq_cst); }

std::uint8_t* base_of(dict_header* h) noexcept { return reinterpret_cast<std::uint8_t*>(h); }

std::uint64_t* index_of(dict_header* h, std::uint32_t which) noexcept {
  return reinterpret_cast<std::uint64_t*>(base_of(h) + h->index_offset[which]);
}
std::uint64_t* live_index(dict_header* h) noexcept { return index_of(h, h->active); }

dict_slot* slot_at(dict_header* h, std::uint32_t s) noexcept {
  return reinterpret_cast<dict_slot*>(base_of(h) + h->slots_offset +
                                      static_cast<std::uint64_t>(s) * h->slot_bytes);
}
std::uint8_t* key_of(dict_slot* s) noexcept { return reinterpret_cast<std::uint8_t*>(s + 1); }
std::uint8_t* value_of(dict_slot* s) noexcept { return key_of(s) + s->key_len; }

std::uint64_t load_bucket(const std::uint64_t* idx, std::size_t i) noexcept {
  return std::atomic_ref<const std::uint64_t>(idx[i]).load(std::memory_order_relaxed);
}
void store_bucket(std::uint64_t* idx, std::size_t i, std::uint64_t v) noexcept {
  std::atomic_ref<std::uint64_t>(idx[i]).store(v, std::memory_order_relaxed);
}
std::uint64_t bucket_for(std::uint64_t hash, std::uint32_t slot) noexcept {
  return (hash & 0xFFFFFFFF00000000ULL) | (static_cast<std::uint64_t>(slot) + 1U);
}
std::uint32_t slot_of(std::uint64_t bucket) noexcept {
  return static_cast<std::uint32_t>(bucket & 0xFFFFFFFFULL) - 1U;
}
bool is_live(std::uint64_t b) noexcept { return b != 0 && b != dict_tombstone; }

std::uint64_t hash_key(std::string_view key) noexcept {
  // FNV-1a, then a finaliser so the low bits (the probe start) mix well.
  std::uint64_t h = fnv1a64(key);
  h ^= h >> 33U;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33U;
  return h;
}

[[noreturn]] void poisoned(const char* name, const char* why) {
  throw error(errc::segment_poisoned, std::string("dict '") + name + "': " + why);
}

struct lookup {
  std::size_t pos = npos;     ///< bucket holding the key, or npos
  std::size_t insert = npos;  ///< first tombstone or empty bucket on the probe path
};

/// Requires: mutex held.
lookup find_locked(dict_header* h, std::string_view key, std::uint64_t hash, const char* name) {
  const std::uint64_t* idx = live_index(h);
  const std::size_t mask = h->bucket_count - 1U;
  lookup r;
  std::size_t i = static_cast<std::size_t>(hash) & mask;
  for (std::size_t n = 0; n < h->bucket_count; ++n, i = (i + 1) & mask) {
    const std::uint64_t b = load_bucket(idx, i);
    if (b == 0) {
      if (r.insert == npos) r.insert = i;
      return r;
    }
    if (b == dict_tombstone) {
      if (r.insert == npos) r.insert = i;
      continue;
    }
    if ((b >> 32U) != (hash >> 32U)) continue;
    const std::uint32_t s = slot_of(b);
    if (s >= h->fresh) poisoned(name, "an index bucket names a slot out of range");
    dict_slot* slot = slot_at(h, s);
    if (slot->hash == hash && slot->key_len == key.size() &&
        (key.empty() || std::memcmp(key_of(slot), key.data(), key.size()) == 0)) {
      r.pos = i;
      return r;
    }
  }
  return r;
}

/// The slot the live bucket `pos` names. Requires: mutex held, the bucket live.
dict_slot* slot_in_bucket(dict_header* h, std::size_t pos) noexcept {
  return slot_at(h, slot_of(load_bucket(live_index(h), pos)));
}

/// A slot no bucket references, or no_slot. Requires: mutex held.
std::uint32_t alloc_slot_locked(dict_header* h) noexcept {
  if (h->free_head != 0) {
    const std::uint32_t s = h->free_head - 1U;
    h->free_head = slot_at(h, s)->next_free;
    return s;
  }
  if (h->fresh < h->slot_count) return h->fresh++;
  return no_slot;
}

void free_slot_locked(dict_header* h, std::uint32_t s) noexcept {
  slot_at(h, s)->next_free = h->free_head;
  h->free_head = s + 1U;
}

void write_slot(dict_header* h, std::uint32_t s, std::string_view key, std::uint64_t hash,
                std::span<const std::uint8_t> value) noexcept {
  dict_slot* slot = slot_at(h, s);
  slot->hash = hash;
  slot->key_len = static_cast<std::uint32_t>(key.size());
  slot->value_len = static_cast<std::uint32_t>(value.size());
  slot->next_free = 0;
  if (!key.empty()) std::memcpy(key_of(slot), key.data(), key.size());
  if (!value.empty()) std::memcpy(value_of(slot), value.data(), value.size());
}

/// The inactive index, emptied. Requires: mutex held.
std::uint64_t* empty_other_index(dict_header* h) noexcept {
  std::uint64_t* dst = index_of(h, 1U - h->active);
  std::memset(dst, 0, static_cast<std::size_t>(h->bucket_count) * sizeof(std::uint64_t));
  return dst;
}

/// Makes the inactive index the live one: the single publishing store of a
/// rehash and of clear(). Requires: mutex held, the inactive index complete.
void switch_index_locked(dict_header* h) noexcept {
  ordered();
  std::atomic_ref<std::uint32_t>(h->active).store(1U - h->active, std::memory_order_relaxed);
  ordered();
}

/// Rebuilds the live entries into the other index, then switches to it.
/// Requires: mutex held.
void rehash_locked(dict_header* h) noexcept {
  std::uint64_t* dst = empty_other_index(h);
  const std::uint64_t* src = live_index(h);
  const std::size_t mask = h->bucket_count - 1U;
  for (std::size_t i = 0; i < h->bucket_count; ++i) {
    const std::uint64_t b = load_bucket(src, i);
    if (!is_live(b)) continue;
    std::size_t j = static_cast<std::size_t>(slot_at(h, slot_of(b))->hash) & mask;
    while (dst[j] != 0) j = (j + 1) & mask;
    dst[j] = b;
  }
  switch_index_locked(h);
  h->tombstones = 0;
}

enum class set_outcome { ok, full };

/// Inserts or replaces; the caller checked the entry size. Requires: mutex held.
set_outcome set_locked(dict_header* h, std::string_view key, std::uint64_t hash,
                       std::span<const std::uint8_t> value, const char* name) {
  lookup f = find_locked(h, key, hash, name);
  if (f.pos == npos) {
    if (h->count >= h->capacity) return set_outcome::full;
    if (static_cast<std::uint64_t>(h->count) + h->tombstones + 1U > h->bucket_count / 4U * 3U) {
      rehash_locked(h);
      f = find_locked(h, key, hash, name);
    }
    if (f.insert == npos) poisoned(name, "the index has no free bucket");
    const std::uint32_t s = alloc_slot_locked(h);
    if (s == no_slot) poisoned(name, "no free slot below capacity");
    write_slot(h, s, key, hash, value);
    fault_point("dict_before_publish");
    ordered();
    std::uint64_t* idx = live_index(h);
    const bool was_tombstone = load_bucket(idx, f.insert) == dict_tombstone;
    store_bucket(idx, f.insert, bucket_for(hash, s));  // the publication
    ordered();
    fault_point("dict_after_publish");
    if (was_tombstone) --h->tombstones;
    ++h->count;
    return set_outcome::ok;
  }
  std::uint64_t* idx = live_index(h);
  const std::uint32_t old = slot_of(load_bucket(idx, f.pos));
  const std::uint32_t s = alloc_slot_locked(h);  // the spare slot guarantees one
  if (s == no_slot) poisoned(name, "no spare slot for an update");
  write_slot(h, s, key, hash, value);
  fault_point("dict_before_publish");
  ordered();
  store_bucket(idx, f.pos, bucket_for(hash, s));  // the publication
  ordered();
  fault_point("dict_after_publish");
  free_slot_locked(h, old);
  return set_outcome::ok;
}

/// Removes the entry in bucket `pos`. Requires: mutex held.
void erase_at_locked(dict_header* h, std::size_t pos) noexcept {
  std::uint64_t* idx = live_index(h);
  const std::uint32_t old = slot_of(load_bucket(idx, pos));
  const std::size_t next = (pos + 1) & (h->bucket_count - 1U);
  // No probe path continues past an empty bucket, so if the next one is empty
  // this one can be emptied instead of tombstoned.
  const bool empty_after = load_bucket(idx, next) == 0;
  store_bucket(idx, pos, empty_after ? 0 : dict_tombstone);  // the publication
  ordered();
  if (!empty_after) ++h->tombstones;
  --h->count;
  free_slot_locked(h, old);
}

/// Owner-death repair: rebuild the free list, count and tombstones from the
/// live index (mark and sweep). Uses next_free as the mark: no allocation.
bool repair_dict(void* state) noexcept {
  auto* h = static_cast<dict_header*>(state);
  if (h->magic != dict_magic || h->active > 1 || h->fresh > h->slot_count ||
      h->bucket_count == 0 || (h->bucket_count & (h->bucket_count - 1U)) != 0) {
    return false;
  }
  for (std::uint32_t s = 0; s < h->fresh; ++s) slot_at(h, s)->next_free = mark_unreferenced;
  const std::uint64_t* idx = live_index(h);
  std::uint32_t live = 0;
  std::uint32_t tombs = 0;
  for (std::size_t i = 0; i < h->bucket_count; ++i) {
    const std::uint64_t b = load_bucket(idx, i);
    if (b == 0) continue;
    if (b == dict_tombstone) {
      ++tombs;
      continue;
    }
    const std::uint32_t s = slot_of(b);
    if (s >= h->fresh) return false;
    dict_slot* slot = slot_at(h, s);
    if (slot->next_free == mark_referenced) return false;  // two buckets, one slot
    if (static_cast<std::uint64_t>(slot->key_len) + slot->value_len > h->max_entry) return false;
    if ((slot->hash >> 32U) != (b >> 32U)) return false;
    slot->next_free = mark_referenced;
    ++live;
  }
  if (live > h->capacity) return false;
  h->free_head = 0;
  for (std::uint32_t s = h->fresh; s-- > 0;) {
    dict_slot* slot = slot_at(h, s);
    if (slot->next_free == mark_unreferenced) {
      slot->next_free = h->free_head;
      h->free_head = s + 1U;
    } else {
      slot->next_free = 0;
    }
  }
  h->count = live;
  h->tombstones = tombs;
  ++h->repairs;
  return true;
}

class dict_lock : public container_guard {
 public:
  dict_lock(dict_header* h, const char* name)
      : container_guard(h->mutex, kind_name, name, &repair_dict, h) {}
};

/// Per-thread buffer values are copied into under the lock (grown before
/// locking, so nothing is allocated while the lock is held).
std::vector<std::uint8_t>& scratch(std::size_t at_least) {
  thread_local std::vector<std::uint8_t> buf;
  if (buf.size() < at_least) buf.resize(at_least);
  return buf;
}

void check_entry(dict_header* h, const char* name, std::string_view key, std::size_t value_len) {
  if (key.size() + value_len > h->max_entry) {
    throw error(errc::too_large,
                std::string("dict '") + name + "': entry of " +
                    std::to_string(key.size() + value_len) + " bytes (key " +
                    std::to_string(key.size()) + " + encoded value " + std::to_string(value_len) +
                    ") exceeds max_entry_bytes " + std::to_string(h->max_entry));
  }
}

[[noreturn]] void throw_full(dict_header* h, const char* name) {
  throw error(errc::full, std::string("dict '") + name + "' is full (capacity " +
                              std::to_string(h->capacity) + " entries)");
}

}  // namespace

// The buffer is sized before locking (retrying if the dict grew meanwhile).
std::vector<std::uint8_t> dict_raw_entries(dict_header* h, const char* name, bool with_values) {
  std::vector<std::uint8_t> out;
  std::size_t want = 0;
  for (;;) {
    out.resize(want);
    dict_lock g(h, name);
    const std::uint64_t* idx = live_index(h);
    std::size_t need = 0;
    for (std::size_t i = 0; i < h->bucket_count; ++i) {
      const std::uint64_t b = load_bucket(idx, i);
      if (!is_live(b)) continue;
      const dict_slot* s = slot_at(h, slot_of(b));
      need += 8U + s->key_len + (with_values ? s->value_len : 0U);
    }
    if (need > out.size()) {
      want = need;
      continue;  // unlock, grow, retry
    }
    std::uint8_t* p = out.data();
    for (std::size_t i = 0; i < h->bucket_count; ++i) {
      const std::uint64_t b = load_bucket(idx, i);
      if (!is_live(b)) continue;
      dict_slot* s = slot_at(h, slot_of(b));
      const std::uint32_t vlen = with_values ? s->value_len : 0U;
      std::memcpy(p, &s->key_len, 4);
      std::memcpy(p + 4, &vlen, 4);
      std::memcpy(p + 8, key_of(s), s->key_len);
      if (vlen != 0) std::memcpy(p + 8 + s->key_len, value_of(s), vlen);
      p += 8U + s->key_len + vlen;
    }
    out.resize(static_cast<std::size_t>(p - out.data()));
    return out;
  }
}
}  // namespace detail

using detail::dict_header;
using detail::dict_lock;

shared_dict shared_dict::create(detail::shared_state_arena& arena, std::string_view name,
                                std::size_t capacity, std::size_t max_entry_bytes) {
  if (capacity == 0 || capacity > detail::max_capacity) {
    throw error(errc::invalid_argument, "make_dict: '" + std::string(name) +
                                            "': capacity must be 1 to 2^28 entries, got " +
                                            std::to_string(capacity));
  }
  if (max_entry_bytes == 0 || max_entry_bytes > (std::size_t{1} << 30U)) {
    throw error(errc::invalid_argument, "make_dict: '" + std::string(name) +
                                            "': max_entry_bytes must be 1 to 2^30, got " +
                                            std::to_string(max_entry_bytes));
  }
  std::uint64_t buckets = 8;
  while (buckets < 2U * static_cast<std::uint64_t>(capacity)) buckets *= 2U;
  const std::uint64_t slot_bytes =
      detail::align_up(sizeof(detail::dict_slot) + static_cast<std::uint64_t>(max_entry_bytes), 8);
  const std::uint64_t slot_count = static_cast<std::uint64_t>(capacity) + 1U;
  const std::uint64_t index0 = detail::align_up(sizeof(dict_header), 64);
  const std::uint64_t index1 = detail::align_up(index0 + buckets * 8U, 64);
  const std::uint64_t slots = detail::align_up(index1 + buckets * 8U, 64);
  const std::uint64_t total = slots + slot_count * slot_bytes;
  if (slot_bytes > std::numeric_limits<std::uint32_t>::max()) {
    throw error(errc::invalid_argument, "make_dict: max_entry_bytes too large");
  }
  const auto obj = arena.create(
      name, detail::shared_kind::dict, 0, static_cast<std::size_t>(total), 64, [&](void* p) {
        auto* h = new (p) dict_header();
        h->magic = detail::dict_magic;
        h->capacity = static_cast<std::uint32_t>(capacity);
        h->slot_count = static_cast<std::uint32_t>(slot_count);
        h->slot_bytes = static_cast<std::uint32_t>(slot_bytes);
        h->max_entry = static_cast<std::uint32_t>(max_entry_bytes);
        h->bucket_count = static_cast<std::uint32_t>(buckets);
        h->index_offset[0] = index0;
        h->index_offset[1] = index1;
        h->slots_offset = slots;
        h->active = 0;
        h->count = 0;
        h->tombstones = 0;
        h->free_head = 0;
        h->fresh = 0;  // slots are touched only when first used
        h->repairs = 0;
        std::memset(static_cast<std::uint8_t*>(p) + index0, 0,
                    static_cast<std::size_t>(slots - index0));
        h->mutex.init(false);
      });
  return shared_dict(static_cast<dict_header*>(obj.storage), obj.name);
}

shared_dict shared_dict::open(detail::shared_state_arena& arena, std::string_view name) {
  const auto obj = arena.find(name, detail::shared_kind::dict);
  auto* h = static_cast<dict_header*>(obj.storage);
  if (h->magic != detail::dict_magic) {
    throw error(errc::segment_poisoned, "open dict: '" + std::string(name) + "' is damaged");
  }
  return shared_dict(h, obj.name);
}

std::size_t shared_dict::capacity() const noexcept { return h_->capacity; }
std::size_t shared_dict::max_entry_bytes() const noexcept { return h_->max_entry; }

namespace {
/// The value under `key`, copied out under the dict's lock (and erased with
/// `erase`), decoded once the lock is released.
std::optional<nlohmann::json> take_value(detail::dict_header* h, const char* name, std::string_view key,
                                         bool erase) {
  const std::uint64_t hash = detail::hash_key(key);
  std::vector<std::uint8_t>& buf = detail::scratch(h->max_entry);
  std::size_t len = 0;
  {
    dict_lock g(h, name);
    const auto f = detail::find_locked(h, key, hash, name);
    if (f.pos == detail::npos) return std::nullopt;
    detail::dict_slot* s = detail::slot_in_bucket(h, f.pos);
    len = s->value_len;
    std::memcpy(buf.data(), detail::value_of(s), len);
    if (erase) detail::erase_at_locked(h, f.pos);
  }
  return detail::decode(std::span<const std::uint8_t>(buf.data(), len));
}
}  // namespace

std::optional<nlohmann::json> shared_dict::get(std::string_view key) const {
  return take_value(h_, name_, key, /*erase=*/false);
}

nlohmann::json shared_dict::get(std::string_view key, const nlohmann::json& fallback) const {
  auto v = get(key);
  return v ? std::move(*v) : fallback;
}

void shared_dict::set(std::string_view key, const nlohmann::json& value) {
  const std::vector<std::uint8_t> enc = detail::encode(value);
  detail::check_entry(h_, name_, key, enc.size());
  const std::uint64_t hash = detail::hash_key(key);
  dict_lock g(h_, name_);
  if (detail::set_locked(h_, key, hash, enc, name_) == detail::set_outcome::full) {
    g.unlock();
    detail::throw_full(h_, name_);
  }
}

void shared_dict::update(const nlohmann::json& values) {
  if (!values.is_object()) {
    throw error(errc::invalid_argument,
                std::string("dict '") + name_ + "': update() takes a JSON object, got " +
                    values.type_name());
  }
  struct pending {
    std::string_view key;
    std::uint64_t hash;
    std::vector<std::uint8_t> enc;
  };
  std::vector<pending> all;
  all.reserve(values.size());
  for (const auto& [k, v] : values.items()) {
    pending p{k, detail::hash_key(k), detail::encode(v)};
    detail::check_entry(h_, name_, p.key, p.enc.size());
    all.push_back(std::move(p));
  }
  dict_lock g(h_, name_);
  std::size_t added = 0;
  for (const pending& p : all) {
    if (detail::find_locked(h_, p.key, p.hash, name_).pos == detail::npos) ++added;
  }
  if (h_->count + added > h_->capacity) {
    throw error(errc::full, std::string("dict '") + name_ + "': update() adds " +
                                std::to_string(added) + " keys to " +
                                std::to_string(h_->count) + "; capacity is " +
                                std::to_string(h_->capacity) + " entries (nothing was set)");
  }
  for (const pending& p : all) (void)detail::set_locked(h_, p.key, p.hash, p.enc, name_);
}

bool shared_dict::erase(std::string_view key) {
  const std::uint64_t hash = detail::hash_key(key);
  dict_lock g(h_, name_);
  const auto f = detail::find_locked(h_, key, hash, name_);
  if (f.pos == detail::npos) return false;
  detail::erase_at_locked(h_, f.pos);
  return true;
}

std::optional<nlohmann::json> shared_dict::pop(std::string_view key) {
  return take_value(h_, name_, key, /*erase=*/true);
}

bool shared_dict::contains(std::string_view key) const {
  const std::uint64_t hash = detail::hash_key(key);
  dict_lock g(h_, name_);
  return detail::find_locked(h_, key, hash, name_).pos != detail::npos;
}

std::size_t shared_dict::size() const {
  dict_lock g(h_, name_);
  return h_->count;
}

void shared_dict::clear() {
  dict_lock g(h_, name_);
  // Not bucket by bucket in the live index: dying half-way would empty buckets
  // in the middle of probe paths, leaving entries listed but unreachable. An
  // empty index is built aside and published with one store, as a rehash does:
  // dying before it leaves every entry, after it none.
  (void)detail::empty_other_index(h_);
  detail::fault_point("dict_clear_before_publish");
  detail::switch_index_locked(h_);
  detail::fault_point("dict_clear_after_publish");
  // Derived data (the repair rebuilds it from the now empty index).
  h_->count = 0;
  h_->tombstones = 0;
  h_->free_head = 0;
  h_->fresh = 0;
}

bool shared_dict::compare_and_set(std::string_view key,
                                  const std::optional<nlohmann::json>& expected,
                                  const nlohmann::json& desired) {
  const std::vector<std::uint8_t> want =
      expected ? detail::encode(*expected) : std::vector<std::uint8_t>{};
  const std::vector<std::uint8_t> enc = detail::encode(desired);
  detail::check_entry(h_, name_, key, enc.size());
  const std::uint64_t hash = detail::hash_key(key);
  dict_lock g(h_, name_);
  const auto f = detail::find_locked(h_, key, hash, name_);
  if (f.pos == detail::npos) {
    if (expected) return false;
  } else {
    if (!expected) return false;
    detail::dict_slot* s = detail::slot_in_bucket(h_, f.pos);
    if (s->value_len != want.size() ||
        std::memcmp(detail::value_of(s), want.data(), want.size()) != 0) {
      return false;
    }
  }
  if (detail::set_locked(h_, key, hash, enc, name_) == detail::set_outcome::full) {
    g.unlock();
    detail::throw_full(h_, name_);
  }
  return true;
}

nlohmann::json shared_dict::update_with(
    std::string_view key, const std::function<nlohmann::json(std::optional<nlohmann::json>)>& fn) {
  const std::uint64_t hash = detail::hash_key(key);
  dict_lock g(h_, name_);
  std::optional<nlohmann::json> old;
  const auto f = detail::find_locked(h_, key, hash, name_);
  if (f.pos != detail::npos) {
    detail::dict_slot* s = detail::slot_in_bucket(h_, f.pos);
    old = detail::decode(std::span<const std::uint8_t>(detail::value_of(s), s->value_len));
  }
  // The documented exception to "no JSON work under the lock".
  nlohmann::json next = fn(std::move(old));
  const std::vector<std::uint8_t> enc = detail::encode(next);
  detail::check_entry(h_, name_, key, enc.size());
  if (detail::set_locked(h_, key, hash, enc, name_) == detail::set_outcome::full) {
    g.unlock();
    detail::throw_full(h_, name_);
  }
  return next;
}

}  // namespace procpool
