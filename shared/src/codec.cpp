#include <procpool/shared/detail/codec.hpp>
#include <procpool/shared/error.hpp>

#include <nlohmann/json.hpp>

#include <utility>

namespace procpool::detail {

std::vector<std::uint8_t> encode(const nlohmann::json& value) {
  return nlohmann::json::to_msgpack(value);
}

void encode_into(const nlohmann::json& value, std::vector<std::uint8_t>& out) {
  nlohmann::json::to_msgpack(value, out);
}

nlohmann::json decode(std::span<const std::uint8_t> bytes) {
  try {
    return nlohmann::json::from_msgpack(bytes.begin(), bytes.end());
  } catch (const nlohmann::json::exception& e) {
    throw error(errc::payload_invalid, std::string("decode: ") + e.what());
  }
}

std::vector<std::uint8_t> scratch_bytes::take() noexcept {
  std::vector<std::uint8_t> v = std::move(kept_);
  kept_ = std::vector<std::uint8_t>();  // a moved-from vector is valid but unspecified
  v.clear();
  return v;
}

void scratch_bytes::give_back(std::vector<std::uint8_t>&& v) noexcept {
  if (v.capacity() > max_kept_ || v.capacity() < kept_.capacity()) {
    std::vector<std::uint8_t>().swap(v);  // freed now, not kept
    return;
  }
  kept_ = std::move(v);
  kept_.clear();
}

scratch_bytes& thread_scratch() noexcept {
  thread_local scratch_bytes s;
  return s;
}

}  // namespace procpool::detail
