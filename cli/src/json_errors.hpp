// Our wording of what is wrong with a task line's JSON. nlohmann's parser
// finds the errors; these functions say them the way docs/cli.md and earlier
// versions of the command do: "malformed JSON at column N: <what>, got <text>",
// "NaN and Infinity are not JSON numbers (column N)", "unexpected text after
// the JSON value at column N", "number X is out of range". Columns are 1-based
// byte offsets into the line.
//
// Threads: any (pure functions).
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "input.hpp"

namespace procpool::cli::detail {

/// invalid_json: "malformed JSON at column <at + 1>: <what>, got <up to 12
/// bytes from there>", or "malformed JSON: unexpected end of line; <what>"
/// when `at` is the end of `text`.
[[nodiscard]] line_error json_syntax_error(std::string_view text, std::size_t at,
                                           std::string_view what);

/// What nlohmann's SAX parser reported for `text`: `position` counts the
/// characters it read (the end of the line counts as one), `last_token` is the
/// token it read last, as nlohmann prints it.
[[nodiscard]] line_error describe_parse_error(std::string_view text, std::size_t position,
                                              std::string_view last_token,
                                              const nlohmann::json::exception& ex);

}  // namespace procpool::cli::detail
