// Text helpers of the command: UTF-8 validation and repair, JSON string
// escaping, and the small number/time formatters the output uses.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace procpool::cli::detail {

/// The length of the well-formed UTF-8 sequence (RFC 3629: no overlong forms,
/// no surrogates, nothing above U+10FFFF) that starts `s`, or 0 if there is none.
/// Precondition: !s.empty().
[[nodiscard]] std::size_t utf8_sequence_length(std::string_view s) noexcept;

/// The byte offset of the first ill-formed UTF-8 sequence in `s`, or npos.
[[nodiscard]] std::size_t find_invalid_utf8(std::string_view s) noexcept;

/// Appends `in` to `out`, each ill-formed UTF-8 byte replaced by U+FFFD.
void append_utf8_repaired(std::string& out, std::string_view in);

/// Appends `s` as a JSON string literal (quotes included): control characters,
/// `"` and `\` escaped, ill-formed UTF-8 bytes replaced by \ufffd.
void append_json_string(std::string& out, std::string_view s);
/// The escape of a backslash, newline, carriage return or tab ("\\n"...), the
/// same in JSON strings and joblog fields; nullptr for any other byte.
[[nodiscard]] const char* common_escape(char c) noexcept;

/// Appends an integer in decimal.
void append_int(std::string& out, std::int64_t v);

/// Appends `v` with exactly `decimals` digits after the point ("12.345").
void append_fixed(std::string& out, double v, int decimals);

/// Appends an ISO-8601 UTC timestamp with milliseconds: 2024-05-01T12:34:56.789Z.
void append_iso8601_utc(std::string& out, std::chrono::system_clock::time_point t);

}  // namespace procpool::cli::detail
