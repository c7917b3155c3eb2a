#include "run_failures.hpp"

#include <algorithm>

#include "text.hpp"

namespace procpool::cli::detail {

namespace {

/// `why` on one line and at most max_text_bytes long (cut on a character
/// boundary): the summary is one line per failure.
std::string one_line(std::string_view why) {
  std::string out;
  std::string_view cut = why;
  if (cut.size() > failure_list::max_text_bytes) {
    std::size_t end = failure_list::max_text_bytes;
    while (end > 0 && (static_cast<unsigned char>(cut[end]) & 0xC0U) == 0x80U) --end;
    cut = cut.substr(0, end);
  }
  append_utf8_repaired(out, cut);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20U) c = ' ';
  }
  if (cut.size() < why.size()) out += "...";
  return out;
}

}  // namespace

void failure_list::note(std::uint64_t line, std::string_view tag, std::string_view why) {
  const std::lock_guard<std::mutex> lock(m_);
  auto highest = std::max_element(listed_.begin(), listed_.end(),
                                  [](const entry& a, const entry& b) { return a.line < b.line; });
  if (listed_.size() >= max_listed) {
    ++more_;
    if (highest->line < line) return;
    listed_.erase(highest);  // a lower line takes its place
  }
  std::string s = "line " + std::to_string(line) + " (tag ";
  append_utf8_repaired(s, tag.substr(0, 64));
  s += "): " + one_line(why);
  listed_.push_back({line, std::move(s)});
}

std::vector<std::string> failure_list::lines() const {
  const std::lock_guard<std::mutex> lock(m_);
  std::vector<entry> sorted = listed_;
  std::sort(sorted.begin(), sorted.end(), [](const entry& a, const entry& b) { return a.line < b.line; });
  std::vector<std::string> out;
  for (entry& e : sorted) out.push_back(std::move(e.text));
  if (more_ != 0) out.push_back("and " + std::to_string(more_) + " more not done");
  return out;
}

std::string failure_reason(const procpool::result& r) {
  std::string why = r.error_message.empty() ? r.error_type : r.error_message;
  if (r.state == task_state::failed) return why;
  return std::string(procpool::to_string(r.state)) + (why.empty() ? "" : ": " + why);
}

}  // namespace procpool::cli::detail
