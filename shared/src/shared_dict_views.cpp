// shared_dict's snapshots: keys(), values(), items(), snapshot(). The entries
// are copied under the dict's lock by dict_raw_entries() (shared_dict.cpp);
// the JSON decoding happens here, after the lock is released.
#include "shared_dict_entries.hpp"

#include <procpool/shared/detail/codec.hpp>
#include <procpool/shared/shared_dict.hpp>

#include <nlohmann/json.hpp>

#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace procpool {
namespace {

/// Calls f(key, value bytes) for each entry of a dict_raw_entries() buffer.
template <class F>
void for_each_raw(const std::vector<std::uint8_t>& raw, F&& f) {
  std::size_t off = 0;
  while (off < raw.size()) {
    std::uint32_t klen = 0;
    std::uint32_t vlen = 0;
    std::memcpy(&klen, raw.data() + off, 4);
    std::memcpy(&vlen, raw.data() + off + 4, 4);
    const auto* k = reinterpret_cast<const char*>(raw.data() + off + 8);
    f(std::string_view(k, klen), std::span<const std::uint8_t>(raw.data() + off + 8 + klen, vlen));
    off += 8U + klen + vlen;
  }
}

}  // namespace

std::vector<std::string> shared_dict::keys() const {
  const auto raw = detail::dict_raw_entries(h_, name_, false);
  std::vector<std::string> out;
  for_each_raw(raw, [&](std::string_view k, std::span<const std::uint8_t>) {
    out.emplace_back(k);
  });
  return out;
}

std::vector<nlohmann::json> shared_dict::values() const {
  const auto raw = detail::dict_raw_entries(h_, name_, true);
  std::vector<nlohmann::json> out;
  for_each_raw(raw, [&](std::string_view, std::span<const std::uint8_t> v) {
    out.push_back(detail::decode(v));
  });
  return out;
}

std::vector<std::pair<std::string, nlohmann::json>> shared_dict::items() const {
  const auto raw = detail::dict_raw_entries(h_, name_, true);
  std::vector<std::pair<std::string, nlohmann::json>> out;
  for_each_raw(raw, [&](std::string_view k, std::span<const std::uint8_t> v) {
    out.emplace_back(std::string(k), detail::decode(v));
  });
  return out;
}

nlohmann::json shared_dict::snapshot() const {
  const auto raw = detail::dict_raw_entries(h_, name_, true);
  nlohmann::json out = nlohmann::json::object();
  for_each_raw(raw, [&](std::string_view k, std::span<const std::uint8_t> v) {
    out[std::string(k)] = detail::decode(v);
  });
  return out;
}

}  // namespace procpool
