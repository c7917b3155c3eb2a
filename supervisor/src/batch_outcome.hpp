// A map chunk's outcome on its way from the worker to the map engine: the
// MessagePack array of one outcome item per input that ran, [0, value] or
// [1, type, message(, code, detail)], kept as bytes (a JSON binary in
// result::value) so that only the map engine, on the caller's thread, reads
// it (straight into the caller's values: map_codec). The local backend builds
// it (also from a progress batch's items, one by one), the MPI backend
// carries it as it is, the front counts its failures.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace procpool::detail {

/// The items of a batch outcome, back to back.
struct batch_items {
  std::size_t count = 0;
  std::span<const std::uint8_t> bytes;
};

/// A JSON binary holding the outcome array whose MessagePack is `array`.
[[nodiscard]] nlohmann::json make_batch_outcome(std::span<const std::uint8_t> array);

/// The items of the batch outcome `value`; nullopt when `value` is none (a
/// chunk that failed as a whole, or ended before its first input).
/// Throws procpool::error(payload_invalid) on a binary that is not an array.
[[nodiscard]] std::optional<batch_items> batch_outcome_items(const nlohmann::json& value);

/// Steps over the item at the start of `in`, returning its bytes; throws
/// procpool::error(payload_invalid) if it is not MessagePack.
[[nodiscard]] std::span<const std::uint8_t> next_batch_item(std::span<const std::uint8_t>& in);

/// Whether `item` is a value, [0, value]; `value` is then the value's bytes.
[[nodiscard]] bool batch_item_value(std::span<const std::uint8_t> item, std::span<const std::uint8_t>& value);

/// How many of the items are failures (not [0, value]).
[[nodiscard]] std::size_t batch_failures(const batch_items& items);

/// Outcome items that came one by one (a progress batch's result_batch_item
/// records, each [index, item]), in order.
struct batch_partial {
  std::size_t count = 0;
  std::vector<std::uint8_t> bytes;
};
/// Adds the item of one result_batch_item record; throws
/// procpool::error(payload_invalid) on bytes that are not [index, item].
void add_batch_item(batch_partial& p, std::span<const std::uint8_t> record);

/// One batch outcome: the items of `first`, then those of `then` (each a
/// batch outcome or none).
[[nodiscard]] nlohmann::json join_batch_outcomes(const batch_partial& first, const nlohmann::json& then);

}  // namespace procpool::detail
