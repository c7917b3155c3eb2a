#include "json_errors.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "text.hpp"

namespace procpool::cli::detail {

namespace {

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool is_control(char c) { return static_cast<unsigned char>(c) < 0x20U; }

// invalid_json at a column, with no "got" part.
line_error at_column(std::size_t column, std::string_view what) {
  return {"invalid_json",
          "malformed JSON at column " + std::to_string(column) + ": " + std::string(what)};
}

// Where a value should start (at `at`): NaN, Infinity and -Infinity (any case,
// as other languages print them) are invalid numbers; anything else is not a
// value.
line_error not_a_value(std::string_view text, std::size_t at) {
  if (at >= text.size()) return json_syntax_error(text, at, "expected a value");
  std::size_t q = at;
  if (text[q] == '-' || text[q] == '+') ++q;
  std::string word;
  while (q < text.size() && word.size() < 8 &&
         std::isalpha(static_cast<unsigned char>(text[q])) != 0) {
    word.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(text[q]))));
    ++q;
  }
  if (word == "nan" || word == "inf" || word == "infinity") {
    return {"invalid_number",
            "NaN and Infinity are not JSON numbers (column " + std::to_string(at + 1) + ")"};
  }
  return json_syntax_error(text, at, "expected a value");
}

// The start of the string or number token nlohmann was reading when it
// stopped before `end`: `last_token` is that token as nlohmann prints it
// (control characters as "<U+XXXX>").
std::size_t scanned_token_start(std::string_view text, std::size_t end,
                                std::string_view last_token) {
  std::size_t printed = 0;
  std::size_t start = end;
  while (start > 0 && printed < last_token.size()) {
    --start;
    printed += is_control(text[start]) ? std::size_t{8} : std::size_t{1};
  }
  return start;
}

// The start of a true/false/null literal that failed at `end` (the character
// that did not match, or the end of the line); `end` itself when no literal
// was under way (a character no token starts with).
std::size_t literal_start(std::string_view text, std::size_t end) {
  constexpr std::array<std::string_view, 3> literals = {"true", "false", "null"};
  for (std::string_view lit : literals) {
    for (std::size_t k = 1; k < lit.size() && k <= end; ++k) {
      if (text.substr(end - k, k) == lit.substr(0, k)) return end - k;
    }
  }
  return end;
}

// The start of the token nlohmann stopped at. `lexer_error`: the token itself
// was malformed (its message says which kind); otherwise it was a whole token
// in the wrong place, ending at `position`.
std::size_t token_start(std::string_view text, std::size_t position, std::string_view last_token,
                        std::string_view lexer_error) {
  const std::size_t end = std::min(position, text.size());
  if (!lexer_error.empty()) {
    if (lexer_error.starts_with("invalid literal")) {
      return literal_start(text, position > text.size() ? text.size() : position - 1);
    }
    return scanned_token_start(text, end, last_token);
  }
  if (position > text.size()) return text.size();  // the end of the line
  const char last = text[position - 1];
  if (last == '"' || (last >= '0' && last <= '9')) {
    return scanned_token_start(text, end, last_token);
  }
  if (last == 'e') return text.substr(0, position).ends_with("true") ? position - 4 : position - 5;
  if (last == 'l') return position - 4;  // null
  return position - 1;                   // one character: [ ] { } : , or a NUL byte
}

// A malformed string literal; `bad` is where nlohmann stopped (the end of the
// line, or the character it could not take).
line_error string_error(std::string_view text, std::size_t bad, std::string_view error) {
  const std::size_t end = text.size();
  if (error.starts_with("invalid string: control character")) {
    return json_syntax_error(text, bad, "control character in a string (escape it)");
  }
  if (error.starts_with("invalid string: '\\u' must be followed by 4 hex digits")) {
    std::size_t digits = bad;  // just after the "u"
    while (digits > 0 && bad - digits < 3 && is_hex(text[digits - 1])) --digits;
    return json_syntax_error(text, end - digits < 4 ? digits : bad,
                             "expected 4 hex digits after \\u");
  }
  if (error.starts_with("invalid string: surrogate U+DC00..U+DFFF")) {
    return at_column(bad + 2, "a lone low surrogate \\u escape");
  }
  if (error.starts_with("invalid string: surrogate U+D800..U+DBFF")) {
    // After \uXXXX\uYYYY with YYYY no low surrogate, the column is past YYYY.
    const bool second_escape =
        bad + 1 >= 6 && bad < end && text[bad - 5] == '\\' && text[bad - 4] == 'u';
    return at_column(second_escape ? bad + 2 : bad + 1,
                     "a high surrogate \\u escape must be followed by a low one");
  }
  if (bad >= end) return json_syntax_error(text, end, "unterminated string");
  return json_syntax_error(text, bad, "invalid escape");
}

// A malformed token where a value starts.
line_error value_error(std::string_view text, std::size_t bad, std::size_t start,
                       std::string_view error) {
  if (error.starts_with("invalid string")) return string_error(text, bad, error);
  if (error.starts_with("invalid number; expected digit after '-'")) {
    if (bad < text.size() && std::string_view("IiNn").find(text[bad]) != std::string_view::npos) {
      return not_a_value(text, start);
    }
    return json_syntax_error(text, bad, "expected a digit");
  }
  if (error.starts_with("invalid number; expected digit after '.'")) {
    return json_syntax_error(text, bad, "expected a digit after '.'");
  }
  if (error.starts_with("invalid number")) {
    return json_syntax_error(text, bad, "expected a digit in the exponent");
  }
  if (error.starts_with("invalid literal")) return not_a_value(text, start);
  return json_syntax_error(text, bad, error);  // nothing nlohmann 3.x reports
}

}  // namespace

line_error json_syntax_error(std::string_view text, std::size_t at, std::string_view what) {
  if (at >= text.size()) {
    return {"invalid_json", "malformed JSON: unexpected end of line; " + std::string(what)};
  }
  std::string got;
  append_json_string(got, text.substr(at, 12));
  return {"invalid_json", "malformed JSON at column " + std::to_string(at + 1) + ": " +
                              std::string(what) + ", got " + got};
}

line_error describe_parse_error(std::string_view text, std::size_t position,
                                std::string_view last_token, const nlohmann::json::exception& ex) {
  if (ex.id == 406) {  // out_of_range: a number too large for a double
    return {"invalid_number", "number " + std::string(last_token) + " is out of range"};
  }
  // "[json.exception.parse_error.101] parse error at line 1, column N: syntax
  // error while parsing <context> - <the lexer's error; last read: '...'> or
  // <unexpected token>[; expected <token>]"
  const std::string_view what = ex.what();
  const std::size_t dash = what.find(" - ");
  const std::string_view detail = dash == std::string_view::npos ? what : what.substr(dash + 3);
  const std::string_view error = detail.starts_with("unexpected ") ? std::string_view() : detail;
  const std::size_t start = token_start(text, position, last_token, error);
  const std::size_t bad = std::min(position, text.size() + 1) - 1;  // where the lexer stopped
  auto expected = [&](std::string_view token) {
    return what.ends_with("; expected " + std::string(token));
  };
  if (expected("end of input")) {
    return {"trailing_garbage",
            "unexpected text after the JSON value at column " + std::to_string(start + 1)};
  }
  if (expected("':'")) return json_syntax_error(text, start, "expected ':'");
  if (expected("'}'")) return json_syntax_error(text, start, "expected ',' or '}'");
  if (expected("']'")) return json_syntax_error(text, start, "expected ',' or ']'");
  if (expected("string literal")) {
    if (error.starts_with("invalid string")) return string_error(text, bad, error);
    return json_syntax_error(text, start, "expected a string");
  }
  if (expected("'[', '{', or a literal")) return not_a_value(text, start);
  return value_error(text, bad, start, error);  // a malformed token where a value starts
}

}  // namespace procpool::cli::detail
