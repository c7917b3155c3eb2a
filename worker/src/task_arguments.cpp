// How a submission's `args` become a task's positional arguments, and the
// readable parameter types the refusals and `procpool tasks` show. The one
// place the rule lives: the pool's submit, map and initializer and the
// command's input lines all go through checked_positional.
#include <cxxabi.h>

#include <procpool/worker/task.hpp>

#include <array>
#include <cstdlib>
#include <memory>
#include <string_view>
#include <utility>

namespace procpool::detail {
namespace {

std::string demangle(const char* mangled) {
  int status = 0;
  const std::unique_ptr<char, void (*)(void*)> p(abi::__cxa_demangle(mangled, nullptr, nullptr, &status),
                                                 std::free);
  return status == 0 && p ? std::string(p.get()) : std::string(mangled);
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
}

/// Drops ", std::allocator<...>" and the other defaulted arguments: nobody
/// writes them, and they make "std::vector<int>" four times as long.
void drop_default_arguments(std::string& s) {
  static constexpr std::array<std::string_view, 5> defaults = {
      ", std::allocator<", ", std::less<", ", std::char_traits<", ", std::hash<", ", std::equal_to<"};
  for (const std::string_view d : defaults) {
    for (std::size_t at = s.find(d); at != std::string::npos; at = s.find(d, at)) {
      std::size_t i = at + d.size();
      for (int depth = 1; i < s.size() && depth > 0; ++i) {
        if (s[i] == '<') ++depth;
        if (s[i] == '>') --depth;
      }
      s.erase(at, i - at);
    }
  }
  replace_all(s, " >", ">");
}

std::string join(const std::vector<std::string>& types) {
  std::string out;
  for (const std::string& t : types) {
    if (!out.empty()) out += ", ";
    out += t;
  }
  return out;
}

/// What a refusal says the task expects.
std::string expected_shape(const task_entry& e) {
  if (e.arity == 0) return "task '" + e.name + "' takes no arguments: pass null or []";
  if (e.arity == 1) {
    return "task '" + e.name + "' takes one argument of type " + e.param_types.at(0) +
           ": pass it as is or as a one-element array";
  }
  return "task '" + e.name + "' takes " + std::to_string(e.arity) + " arguments (" + join(e.param_types) +
         "): pass them as a JSON array";
}

/// The conversion error without what the shape message around it says
/// already: "task 'x' argument 1: " and std::system_error's ": <code message>".
std::string conversion_detail(const task_entry& e, const error& ex) {
  std::string_view what = ex.what();
  const std::string prefix = "task '" + e.name + "' argument 1: ";
  if (what.starts_with(prefix)) what.remove_prefix(prefix.size());
  const std::string suffix = ": " + ex.code().message();
  if (what.ends_with(suffix)) what.remove_suffix(suffix.size());
  return std::string(what);
}

}  // namespace

std::string type_display_name(const std::type_info& type) {
  std::string s = demangle(type.name());
  // Whole names first: their default arguments are part of what is replaced.
  replace_all(s, demangle(typeid(nlohmann::json).name()), "nlohmann::json");
  replace_all(s, demangle(typeid(nlohmann::ordered_json).name()), "nlohmann::ordered_json");
  replace_all(s, demangle(typeid(std::string).name()), "std::string");
  replace_all(s, demangle(typeid(std::string_view).name()), "std::string_view");
  replace_all(s, "std::__cxx11::", "std::");
  drop_default_arguments(s);
  return s;
}

std::string arity_message(const std::string& task, const std::vector<std::string>& types, std::size_t got) {
  std::string m = "task '" + task + "' takes ";
  if (types.empty()) {
    m += "no arguments";
  } else {
    m += std::to_string(types.size()) + (types.size() == 1 ? " argument (" : " arguments (") + join(types) + ")";
  }
  return m + ", got " + std::to_string(got);
}

nlohmann::json checked_positional(const task_entry& e, const nlohmann::json& args) {
  return checked_positional(e, nlohmann::json(args));
}

nlohmann::json checked_positional(const task_entry& e, nlohmann::json&& args) {
  if (e.arity != 1) {
    if (e.arity == 0 && args.is_null()) return nlohmann::json::array();
    if (!args.is_array()) throw error(errc::bad_arguments, expected_shape(e));
    e.check(args);  // a wrong count or a bad element, by its position
    return std::move(args);
  }
  // One parameter: `args` as is takes precedence, so a task whose parameter is
  // itself an array (std::vector<std::vector<int>>) gets [[1,2]] unchanged.
  // Moved, not copied, into the array: a payload can be large.
  nlohmann::json positional = nlohmann::json::array();
  positional.push_back(std::move(args));
  try {
    e.check(positional);
    return positional;
  } catch (const error& as_is) {
    nlohmann::json& original = positional[0];
    if (original.is_array() && original.size() == 1) {
      try {
        e.check(original);
        return std::move(original);
      } catch (const error&) {
        // Neither form converts: report the first, the one that says what the value was.
      }
    }
    throw error(errc::bad_arguments, expected_shape(e) + " (" + conversion_detail(e, as_is) + ")");
  }
}

}  // namespace procpool::detail
