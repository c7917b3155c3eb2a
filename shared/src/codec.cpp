// The payload codec. JSON values are written and read as MessagePack by a
// walk of our own (msgpack_flat.hpp) for everything JSON has: nlohmann's
// to_msgpack/from_msgpack set up an output adapter (a heap allocation) or a
// parser per call, and copy strings and binaries a byte at a time, which cost
// more than the bytes themselves for small values and large payloads alike.
// nlohmann stays the reference: what the walk does not take (a binary with a
// subtype, MessagePack ext types, bytes that are not valid) goes to nlohmann,
// so the values and the errors are nlohmann's.
#include <procpool/shared/detail/codec.hpp>
#include <procpool/shared/detail/msgpack_flat.hpp>
#include <procpool/shared/error.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <string>
#include <utility>

namespace procpool::detail {
namespace {

using json = nlohmann::json;

void encode_value(const json& v, std::vector<std::uint8_t>& out) {
  switch (v.type()) {
    case json::value_t::null: msgpack::put_nil(out); return;
    case json::value_t::boolean: msgpack::put_bool(out, v.get<bool>()); return;
    case json::value_t::number_integer: msgpack::put_int(out, v.get<std::int64_t>()); return;
    case json::value_t::number_unsigned: msgpack::put_uint(out, v.get<std::uint64_t>()); return;
    case json::value_t::number_float: msgpack::put_double(out, v.get<double>()); return;
    case json::value_t::string: msgpack::put_str(out, v.get_ref<const json::string_t&>()); return;
    case json::value_t::array:
      msgpack::put_array_header(out, v.size());
      for (const json& e : v) encode_value(e, out);
      return;
    case json::value_t::object:
      msgpack::put_map_header(out, v.size());
      for (auto it = v.begin(); it != v.end(); ++it) {
        msgpack::put_str(out, it.key());
        encode_value(it.value(), out);
      }
      return;
    case json::value_t::binary:
      if (!v.get_binary().has_subtype()) {
        msgpack::put_bin(out, v.get_binary());
        return;
      }
      break;  // an ext type: nlohmann's
    case json::value_t::discarded: break;
  }
  json::to_msgpack(v, out);  // appends
}

/// Nesting the walk takes before it leaves a value to nlohmann.
constexpr int max_depth = 256;

/// Reads one value at `in` into `out`; false where nlohmann must decide (the
/// value is then read again by nlohmann, from the start).
bool decode_value(msgpack::reader& in, json& out, int depth) {
  if (in.at_end() || depth > max_depth) return false;
  const std::uint8_t t = *in.pos();
  bool negative = false;
  std::uint64_t bits = 0;
  double d = 0;
  bool b = false;
  std::string_view s;
  std::span<const std::uint8_t> bin;
  std::size_t n = 0;
  if (in.integer(negative, bits)) {
    // As nlohmann: the signed encodings (negative fixint, int 8..64) give
    // number_integer, the unsigned ones number_unsigned.
    const bool signed_encoding = t >= 0xe0 || (t >= 0xd0 && t <= 0xd3);
    out = signed_encoding ? json(static_cast<std::int64_t>(bits)) : json(bits);
  } else if (in.floating(d)) {
    out = d;
  } else if (in.nil()) {
    out = nullptr;
  } else if (in.boolean(b)) {
    out = b;
  } else if (in.string(s)) {
    out = json::string_t(s);
  } else if (in.binary(bin)) {
    out = json::binary(std::vector<std::uint8_t>(bin.begin(), bin.end()));
  } else if (in.array_header(n)) {
    out = json::array();
    json::array_t& a = out.get_ref<json::array_t&>();
    a.reserve(std::min<std::size_t>(n, static_cast<std::size_t>(in.end() - in.pos())));
    for (std::size_t i = 0; i < n; ++i) {
      if (!decode_value(in, a.emplace_back(), depth + 1)) return false;
    }
  } else if (in.map_header(n)) {
    out = json::object();
    for (std::size_t i = 0; i < n; ++i) {
      std::string_view key;
      json value;
      if (!in.string(key) || !decode_value(in, value, depth + 1)) return false;  // nlohmann: string keys only
      out[json::string_t(key)] = std::move(value);  // a repeated key: the last wins, as in nlohmann
    }
  } else {
    return false;  // ext types, 0xc1, truncated bytes
  }
  return true;
}

}  // namespace

std::vector<std::uint8_t> encode(const nlohmann::json& value) {
  std::vector<std::uint8_t> out;
  encode_value(value, out);
  return out;
}

void encode_into(const nlohmann::json& value, std::vector<std::uint8_t>& out) { encode_value(value, out); }

nlohmann::json decode(std::span<const std::uint8_t> bytes) {
  msgpack::reader in(bytes);
  json out;
  if (decode_value(in, out, 0) && in.at_end()) return out;
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
