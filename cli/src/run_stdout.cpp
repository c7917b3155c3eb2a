#include "run_stdout.hpp"

#include <nlohmann/json.hpp>

namespace procpool::cli::detail {
namespace {

void append_labelled(std::string& to, std::string_view text, const std::string* label) {
  if (label == nullptr) {
    to.append(text);
    return;
  }
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    const std::size_t end = nl == std::string_view::npos ? text.size() : nl;
    to.append(*label).push_back('\t');
    to.append(text.substr(0, end)).push_back('\n');
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
  }
}

std::string_view string_field(const nlohmann::json& v, const char* name) {
  if (!v.is_object()) return {};
  const auto it = v.find(name);
  if (it == v.end() || !it->is_string()) return {};
  return it->get_ref<const std::string&>();
}

}  // namespace

void append_job_output(std::string& out, std::string& err, const procpool::result& r, bool is_exec,
                       const std::string* label) {
  if (is_exec) {
    // A failed command's output is in its failure's detail, with the same fields.
    append_labelled(out, string_field(r.value, "stdout"), label);
    append_labelled(err, string_field(r.value, "stderr"), label);
    return;
  }
  if (r.state != task_state::done) return;
  if (r.value.is_string()) {
    std::string text = r.value.get<std::string>();
    text.push_back('\n');
    append_labelled(out, text, label);
    return;
  }
  std::string text = r.value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text.push_back('\n');
  append_labelled(out, text, label);
}

}  // namespace procpool::cli::detail
