#include "line_sax.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <utility>

#include "json_errors.hpp"
#include "text.hpp"

namespace procpool::cli::detail {

using json = nlohmann::json;

void line_state::reset(task_line& out) {
  is_object = false;
  seen = 0;
  tag_is_string = false;
  task_is_string = false;
  unknown_keys.clear();
  stack.clear();
  out.has_args = false;
  out.args = nullptr;
  out.timeout.reset();
  out.retries.reset();
  out.tag.clear();
  out.task.clear();
}

bool line_sax::fail_(std::string type, std::string message) {
  err_ = {std::move(type), std::move(message)};
  return false;
}

// A key is refused as a duplicate only after its ':', as the line is read
// from left to right: `{"a":1,"a" 2}` is a syntax error first.
bool line_sax::duplicate_pending_() {
  if (!duplicate_) return false;
  std::string msg = "duplicate key ";
  append_json_string(msg, duplicate_key_);
  msg += " in an object";
  return !fail_("duplicate_key", std::move(msg));
}

json* line_sax::slot_() {
  if (st_.stack.empty()) return &st_.scratch;  // a line that is not an object
  json* top = st_.stack.back();
  if (top == nullptr) return member_slot_;
  if (top->is_array()) return &top->get_ref<json::array_t&>().emplace_back();
  return element_;
}

bool line_sax::put_(json&& v) {
  if (duplicate_pending_()) return false;
  *slot_() = std::move(v);
  return true;
}

bool line_sax::null() { return put_(json(nullptr)); }
bool line_sax::boolean(bool v) { return put_(json(v)); }
bool line_sax::number_integer(std::int64_t v) { return put_(json(v)); }
bool line_sax::number_unsigned(std::uint64_t v) { return put_(json(v)); }

// nlohmann has already refused infinities (parse_error, out_of_range 406).
// The value is read again with from_chars, which tells an underflow (a
// negative exponent: 1e-400 is 0) from a number too long to be anything but
// out of range.
bool line_sax::number_float(double /*v*/, const std::string& text) {
  double d = 0;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), d);
  if (r.ec == std::errc::result_out_of_range) {
    const std::size_t e = text.find_first_of("eE");
    if (e == std::string::npos || e + 1 >= text.size() || text[e + 1] != '-') {
      return fail_("invalid_number", "number " + text + " is out of range");
    }
    d = text.front() == '-' ? -0.0 : 0.0;  // underflow
  } else if (r.ec != std::errc{} || !std::isfinite(d)) {
    return fail_("invalid_number", "number " + text + " is out of range");
  }
  return put_(json(d));
}

bool line_sax::string(std::string& v) {
  if (duplicate_pending_()) return false;
  if (in_line_object_() && member_ == line_state::m_tag) {
    out_.tag = std::move(v);
    st_.tag_is_string = true;
    return true;
  }
  if (in_line_object_() && member_ == line_state::m_task) {
    out_.task = std::move(v);
    st_.task_is_string = true;
    return true;
  }
  return put_(json(std::move(v)));
}

bool line_sax::binary(json::binary_t& /*v*/) {  // never in JSON text
  return fail_("invalid_json", "malformed JSON: a binary value");
}

bool line_sax::open_(json::value_t type) {
  if (duplicate_pending_()) return false;
  if (st_.stack.size() + 1 > max_json_depth) {
    return fail_("too_deep", "nesting deeper than " + std::to_string(max_json_depth) + " levels");
  }
  json* slot = slot_();
  *slot = type;
  st_.stack.push_back(slot);
  return true;
}

bool line_sax::start_object(std::size_t /*elements*/) {
  if (st_.stack.empty()) {  // the line's own object: read, never built
    st_.is_object = true;
    st_.stack.push_back(nullptr);
    return true;
  }
  return open_(json::value_t::object);
}

bool line_sax::start_array(std::size_t /*elements*/) { return open_(json::value_t::array); }

bool line_sax::end_object() {
  st_.stack.pop_back();
  return true;
}

bool line_sax::end_array() {
  st_.stack.pop_back();
  return true;
}

bool line_sax::key(std::string& k) {
  if (in_line_object_()) return line_key_(k);
  auto& obj = st_.stack.back()->get_ref<json::object_t&>();
  auto [it, inserted] = obj.try_emplace(std::move(k));
  if (!inserted) {
    duplicate_ = true;
    duplicate_key_ = it->first;
    return true;
  }
  element_ = &it->second;
  return true;
}

// A member of the line's object: its value goes straight to where it is used.
bool line_sax::line_key_(std::string& k) {
  unsigned which = 0;
  json* slot = nullptr;
  if (k == "tag") {
    which = line_state::m_tag;
    slot = &st_.tag_value;
  } else if (k == "task") {
    which = line_state::m_task;
    slot = &st_.task_value;
  } else if (k == "args") {
    which = line_state::m_args;
    slot = &out_.args;
    out_.has_args = true;
  } else if (k == "timeout") {
    which = line_state::m_timeout;
    slot = &st_.timeout_value;
  } else if (k == "retries") {
    which = line_state::m_retries;
    slot = &st_.retries_value;
  }
  const auto& unknown = st_.unknown_keys;
  if (which != 0 ? (st_.seen & which) != 0
                 : std::find(unknown.begin(), unknown.end(), k) != unknown.end()) {
    duplicate_ = true;
    duplicate_key_ = std::move(k);
    return true;
  }
  st_.seen |= which;
  // Unknown: still read (it must be valid JSON, and a repeated unknown key is
  // a duplicate too), then refused.
  if (which == 0) st_.unknown_keys.push_back(std::move(k));
  member_ = which;
  member_slot_ = slot != nullptr ? slot : &st_.scratch;
  return true;
}

bool line_sax::parse_error(std::size_t position, const std::string& last_token,
                           const json::exception& ex) {
  // A repeated key followed by its ':' is refused before what comes after it.
  if (duplicate_ && !std::string_view(ex.what()).ends_with("; expected ':'")) {
    (void)duplicate_pending_();
    return false;
  }
  err_ = describe_parse_error(text_, position, last_token, ex);
  return false;
}

}  // namespace procpool::cli::detail
