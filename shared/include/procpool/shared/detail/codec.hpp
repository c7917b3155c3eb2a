// The payload codec: nlohmann JSON <-> MessagePack bytes.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace procpool::detail {

[[nodiscard]] std::vector<std::uint8_t> encode(const nlohmann::json& value);
/// Throws procpool::error(payload_invalid) on bytes that are not MessagePack.
[[nodiscard]] nlohmann::json decode(std::span<const std::uint8_t> bytes);

}  // namespace procpool::detail
