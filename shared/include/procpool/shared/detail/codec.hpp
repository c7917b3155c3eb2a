// The payload codec: nlohmann JSON <-> MessagePack bytes, and the scratch
// buffers the hot path encodes into.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace procpool::detail {

[[nodiscard]] std::vector<std::uint8_t> encode(const nlohmann::json& value);
/// Appends the MessagePack of `value` to `out`; grows `out` only if its capacity is short.
void encode_into(const nlohmann::json& value, std::vector<std::uint8_t>& out);
/// Throws procpool::error(payload_invalid) on bytes that are not MessagePack.
[[nodiscard]] nlohmann::json decode(std::span<const std::uint8_t> bytes);

/// A byte buffer kept from one task to the next, so that encoding a task's
/// arguments (supervisor) or its result (worker) does not allocate and free a
/// buffer of the payload's size per task. With payloads of 64 KiB and more,
/// glibc gives the freed top of the heap back to the kernel after each task
/// (brk, with the TLB flushes and page faults of growing it again for the
/// next), which cost more than the copying did. What is kept is bounded: a
/// buffer whose capacity is over max_kept is freed when given back.
///
/// Not thread-safe: one per thread (thread_scratch()). Never blocks.
class scratch_bytes {
 public:
  static constexpr std::size_t default_max_kept = std::size_t{1} << 20U;  // 1 MiB

  explicit scratch_bytes(std::size_t max_kept = default_max_kept) noexcept : max_kept_(max_kept) {}

  /// An empty vector holding the storage given back last (none at first).
  [[nodiscard]] std::vector<std::uint8_t> take() noexcept;
  /// Keeps `v`'s storage for the next take() if its capacity is at most
  /// max_kept and not below what is kept already; frees it otherwise.
  void give_back(std::vector<std::uint8_t>&& v) noexcept;
  /// The capacity the next take() returns.
  [[nodiscard]] std::size_t kept_capacity() const noexcept { return kept_.capacity(); }
  [[nodiscard]] std::size_t max_kept() const noexcept { return max_kept_; }

 private:
  std::vector<std::uint8_t> kept_;
  std::size_t max_kept_;
};

/// The calling thread's scratch buffer (at most scratch_bytes::default_max_kept
/// kept per thread, freed when the thread ends).
[[nodiscard]] scratch_bytes& thread_scratch() noexcept;

}  // namespace procpool::detail
