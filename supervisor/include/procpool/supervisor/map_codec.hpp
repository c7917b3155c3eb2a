// How a map's inputs become chunk bytes and its values come back: the one
// point where the JSON map (pool::map by name) and the typed map
// (pool::map(fn, std::vector<T>), typed.hpp) differ. The map engine (chunks,
// halving, resending what a crash cut short, the first failure in input order)
// is the same for both and calls this; the typed map's codec writes and reads
// flat values without a JSON DOM.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace procpool::detail {

class map_codec {
 public:
  map_codec() = default;
  map_codec(const map_codec&) = delete;
  map_codec& operator=(const map_codec&) = delete;
  virtual ~map_codec() = default;

  /// How many inputs there are.
  [[nodiscard]] virtual std::size_t size() const = 0;
  /// Appends the MessagePack of inputs [begin, end) to `out`, each as its
  /// positional argument array, back to back (the engine writes the chunk's
  /// array header). May be called again for the same inputs (a chunk halved
  /// or sent again).
  virtual void encode_inputs(std::size_t begin, std::size_t end, std::vector<std::uint8_t>& out) const = 0;
  /// Input `index`'s value, one MessagePack value. Called at most once per
  /// input, from the map's calling thread. May throw procpool::error
  /// (payload_invalid) for a value that does not read as the result type.
  virtual void take_value(std::size_t index, std::span<const std::uint8_t> value) = 0;
};

}  // namespace procpool::detail
