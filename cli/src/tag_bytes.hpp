// Tags are bytes. A tag made from file names (--tagstring '{}' in a command
// template) may hold bytes that are not UTF-8, which a JSON string cannot carry.
// Such a result line carries the exact bytes as standard base64 (RFC 4648, with
// padding) in "tag_base64", first, and "tag" with each ill-formed byte replaced
// by U+FFFD for people and tools that read only "tag". --resume reads
// "tag_base64" back when it is there. Tags that are valid UTF-8 (every tag of a
// JSON Lines batch) never get the field.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace procpool::cli::detail {

/// Standard base64 of `bytes`, padded.
[[nodiscard]] std::string base64_encode(std::string_view bytes);

/// The bytes of standard padded base64 `text`; nothing if `text` is not that.
[[nodiscard]] std::optional<std::string> base64_decode(std::string_view text);

/// Appends `"tag_base64":"...",` when `tag` is not valid UTF-8 (nothing
/// otherwise): a result line's first field.
void append_tag_bytes_field(std::string& out, std::string_view tag);

}  // namespace procpool::cli::detail
