#include "tag_set.hpp"

#include <cstring>
#include <functional>
#include <stdexcept>

namespace procpool::cli::detail {

// A slot packs 24 bits of the hash (to skip most key comparisons) with the
// record's position: (offset / 8 + 1) in the low 40 bits (8 TiB of arena).
// A record is [u64 value][u16 length][bytes], 8-aligned, within one chunk.
namespace {
constexpr unsigned pos_bits = 40;
constexpr std::uint64_t pos_mask = (std::uint64_t{1} << pos_bits) - 1;
constexpr std::size_t record_header = 10;

std::uint64_t hash_of(std::string_view s) noexcept { return std::hash<std::string_view>{}(s); }
std::uint64_t fragment(std::uint64_t h) noexcept { return (h >> pos_bits) << pos_bits; }
}  // namespace

tag_set::tag_set() : slots_(1024, 0) {}

const char* tag_set::record_(std::uint64_t slot) const noexcept {
  const std::uint64_t off = ((slot & pos_mask) - 1) * 8;
  return chunks_[off / chunk_bytes].get() + off % chunk_bytes;
}

std::uint64_t* tag_set::find(std::string_view tag) noexcept {
  const std::uint64_t h = hash_of(tag);
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = h & mask;; i = (i + 1) & mask) {
    const std::uint64_t s = slots_[i];
    if (s == 0) return nullptr;
    if ((s & ~pos_mask) != fragment(h)) continue;
    const char* rec = record_(s);
    std::uint16_t len = 0;
    std::memcpy(&len, rec + 8, sizeof len);
    if (len == tag.size() && std::memcmp(rec + record_header, tag.data(), len) == 0) {
      // The arena is only ever written through this set; the record is 8-aligned.
      return reinterpret_cast<std::uint64_t*>(const_cast<char*>(rec));  // NOLINT
    }
  }
}

void tag_set::grow_() {
  std::vector<std::uint64_t> old(slots_.size() * 2, 0);
  old.swap(slots_);
  const std::size_t mask = slots_.size() - 1;
  for (const std::uint64_t s : old) {
    if (s == 0) continue;
    const char* rec = record_(s);
    std::uint16_t len = 0;
    std::memcpy(&len, rec + 8, sizeof len);
    const std::uint64_t h = hash_of(std::string_view(rec + record_header, len));
    std::size_t i = h & mask;
    while (slots_[i] != 0) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

void tag_set::insert(std::string_view tag, std::uint64_t value) {
  if (tag.size() > 0xFFFF) throw std::length_error("tag_set: tag too long");
  if ((size_ + 1) * 2 > slots_.size()) grow_();  // load factor 0.5: short probe runs
  const std::size_t need = (record_header + tag.size() + 7) & ~std::size_t{7};
  if (used_in_chunk_ + need > chunk_bytes) {
    chunks_.push_back(
        std::make_unique_for_overwrite<char[]>(chunk_bytes));  // NOLINT(*-avoid-c-arrays)
    used_in_chunk_ = 0;
  }
  char* rec = chunks_.back().get() + used_in_chunk_;
  const std::uint64_t off = (chunks_.size() - 1) * chunk_bytes + used_in_chunk_;
  used_in_chunk_ += need;
  std::memcpy(rec, &value, sizeof value);
  const auto len = static_cast<std::uint16_t>(tag.size());
  std::memcpy(rec + 8, &len, sizeof len);
  std::memcpy(rec + record_header, tag.data(), tag.size());

  const std::uint64_t h = hash_of(tag);
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = h & mask;
  while (slots_[i] != 0) i = (i + 1) & mask;
  slots_[i] = fragment(h) | (off / 8 + 1);
  ++size_;
}

}  // namespace procpool::cli::detail
