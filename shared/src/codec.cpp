#include <procpool/shared/detail/codec.hpp>
#include <procpool/shared/error.hpp>

#include <nlohmann/json.hpp>

namespace procpool::detail {

std::vector<std::uint8_t> encode(const nlohmann::json& value) {
  return nlohmann::json::to_msgpack(value);
}

nlohmann::json decode(std::span<const std::uint8_t> bytes) {
  try {
    return nlohmann::json::from_msgpack(bytes.begin(), bytes.end());
  } catch (const nlohmann::json::exception& e) {
    throw error(errc::payload_invalid, std::string("decode: ") + e.what());
  }
}

}  // namespace procpool::detail
