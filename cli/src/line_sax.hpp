// Reading one task line with nlohmann's SAX parser (json::sax_parse).
//
// line_sax is the handler: it fills the task line's members as they come (the
// top-level object itself is never built), builds the values of "args" and of
// the other members, and refuses what JSON Lines task input must not contain
// beyond plain JSON syntax: a repeated key in any object, nesting deeper than
// max_json_depth, a number out of range. Syntax errors are nlohmann's, worded
// our way by json_errors.
//
// Threads: a line_state belongs to one line_parser, which is used by one
// thread at a time.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "input.hpp"

namespace procpool::cli::detail {

/// What reading a line found, for the checks of meaning that follow. Reused
/// from line to line (its buffers keep their capacity).
struct line_state {
  enum member : unsigned { m_tag = 1, m_task = 2, m_args = 4, m_timeout = 8, m_retries = 16 };

  bool is_object = false;  ///< false: the line holds another JSON value (in scratch)
  unsigned seen = 0;       ///< the members present (m_* bits)
  bool tag_is_string = false;
  bool task_is_string = false;
  nlohmann::json tag_value;   ///< "tag" when it is not a string
  nlohmann::json task_value;  ///< "task" when it is not a string
  nlohmann::json timeout_value;
  nlohmann::json retries_value;
  std::vector<std::string> unknown_keys;
  nlohmann::json scratch;  ///< unknown members' values; a line that is not an object

  std::vector<nlohmann::json*> stack;  ///< open containers; nullptr: the line's own object

  void reset(task_line& out);
};

/// The SAX handler of one line (see nlohmann::json_sax). Every callback
/// returns false to stop at the first error, which it leaves in `err`.
class line_sax {
 public:
  line_sax(std::string_view text, task_line& out, line_state& st, line_error& err)
      : text_(text), out_(out), st_(st), err_(err) {}

  bool null();
  bool boolean(bool v);
  bool number_integer(std::int64_t v);
  bool number_unsigned(std::uint64_t v);
  bool number_float(double v, const std::string& text);
  bool string(std::string& v);
  bool binary(nlohmann::json::binary_t& v);
  bool start_object(std::size_t elements);
  bool key(std::string& k);
  bool end_object();
  bool start_array(std::size_t elements);
  bool end_array();
  bool parse_error(std::size_t position, const std::string& last_token,
                   const nlohmann::json::exception& ex);

 private:
  bool fail_(std::string type, std::string message);
  bool duplicate_pending_();
  [[nodiscard]] bool in_line_object_() const noexcept {
    return st_.stack.size() == 1 && st_.stack.back() == nullptr;
  }
  nlohmann::json* slot_();
  bool put_(nlohmann::json&& v);
  bool open_(nlohmann::json::value_t type);
  bool line_key_(std::string& k);

  std::string_view text_;
  task_line& out_;
  line_state& st_;
  line_error& err_;
  unsigned member_ = 0;                    // the line's member being read (m_* bit; 0: unknown)
  nlohmann::json* member_slot_ = nullptr;  // where its value goes
  nlohmann::json* element_ = nullptr;      // where the value of a nested object's key goes
  bool duplicate_ = false;                 // a repeated key, refused once its ':' is read
  std::string duplicate_key_;
};

}  // namespace procpool::cli::detail
