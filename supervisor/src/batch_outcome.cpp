#include "batch_outcome.hpp"

#include <procpool/shared/detail/msgpack_flat.hpp>
#include <procpool/shared/error.hpp>

namespace procpool::detail {
namespace {

[[noreturn]] void malformed(const char* what) {
  throw error(errc::payload_invalid, std::string("map chunk outcome: ") + what);
}

}  // namespace

nlohmann::json make_batch_outcome(std::span<const std::uint8_t> array) {
  return nlohmann::json::binary(std::vector<std::uint8_t>(array.begin(), array.end()));
}

std::optional<batch_items> batch_outcome_items(const nlohmann::json& value) {
  if (!value.is_binary()) return std::nullopt;
  const std::vector<std::uint8_t>& bytes = value.get_binary();
  msgpack::reader in(bytes);
  std::size_t count = 0;
  if (!in.array_header(count)) malformed("not an array");
  return batch_items{count, std::span<const std::uint8_t>(in.pos(), in.end())};
}

std::span<const std::uint8_t> next_batch_item(std::span<const std::uint8_t>& in) {
  msgpack::reader r(in);
  if (!r.skip()) malformed("an item is not MessagePack");
  const auto n = static_cast<std::size_t>(r.pos() - in.data());
  const std::span<const std::uint8_t> item = in.first(n);
  in = in.subspan(n);
  return item;
}

bool batch_item_value(std::span<const std::uint8_t> item, std::span<const std::uint8_t>& value) {
  if (item.size() < 3 || item[0] != 0x92 || item[1] != 0x00) return false;
  value = item.subspan(2);
  return true;
}

std::size_t batch_failures(const batch_items& items) {
  std::span<const std::uint8_t> rest = items.bytes;
  std::size_t failed = 0;
  std::span<const std::uint8_t> value;
  for (std::size_t j = 0; j < items.count; ++j) {
    if (!batch_item_value(next_batch_item(rest), value)) ++failed;
  }
  return failed;
}

void add_batch_item(batch_partial& p, std::span<const std::uint8_t> record) {
  msgpack::reader in(record);
  std::size_t n = 0;
  bool negative = false;
  std::uint64_t index = 0;
  if (!in.array_header(n) || n != 2 || !in.integer(negative, index)) malformed("a progress item is not [index, item]");
  const std::span<const std::uint8_t> item(in.pos(), in.end());
  p.bytes.insert(p.bytes.end(), item.begin(), item.end());
  ++p.count;
}

nlohmann::json join_batch_outcomes(const batch_partial& first, const nlohmann::json& then) {
  const std::optional<batch_items> more = batch_outcome_items(then);
  std::vector<std::uint8_t> out;
  out.reserve(first.bytes.size() + (more ? more->bytes.size() : 0) + 5);
  msgpack::put_array_header(out, first.count + (more ? more->count : 0));
  out.insert(out.end(), first.bytes.begin(), first.bytes.end());
  if (more) out.insert(out.end(), more->bytes.begin(), more->bytes.end());
  return nlohmann::json::binary(std::move(out));
}

}  // namespace procpool::detail
