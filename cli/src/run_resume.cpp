#include "run_resume.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <exception>
#include <nlohmann/json.hpp>

#include "input.hpp"
#include "tag_bytes.hpp"

namespace procpool::cli::detail {

namespace {

using json = nlohmann::json;

/// Our own layout, {"tag":"...","state":"...": the tag when the state is done;
/// an empty optional when it is not; nothing (fall back to the full parser)
/// when the line is laid out some other way.
std::optional<std::optional<std::string>> fast_done_tag(std::string_view line) {
  constexpr std::string_view head = "{\"tag\":\"";
  constexpr std::string_view done = ",\"state\":\"done\"";
  if (!line.starts_with(head)) return std::nullopt;
  std::size_t i = head.size();
  bool escaped = false;
  for (; i < line.size(); ++i) {
    if (line[i] == '\\') {
      escaped = true;
      ++i;
    } else if (line[i] == '"') {
      break;
    }
  }
  if (i >= line.size()) return std::nullopt;
  const std::string_view literal = line.substr(head.size() - 1, i - head.size() + 2);
  const std::string_view rest = line.substr(i + 1);
  if (!rest.starts_with(",\"state\":")) return std::nullopt;  // not our layout
  if (!rest.starts_with(done)) return std::optional<std::string>{};
  if (!escaped) {
    return std::optional<std::string>{std::string(literal.substr(1, literal.size() - 2))};
  }
  json t = json::parse(literal, nullptr, false);
  if (t.is_string()) return std::optional<std::string>{t.get<std::string>()};
  return std::optional<std::string>{};
}

/// Cuts off a last line without "\n" (a run killed in the middle of a line), so
/// that the lines appended now start on a line of their own.
bool cut_unfinished_line(int fd, const std::string& path, console& err) {
  const off_t size = ::lseek(fd, 0, SEEK_END);
  if (size <= 0) return true;
  off_t keep = size;
  char c = 0;
  while (keep > 0 && ::pread(fd, &c, 1, keep - 1) == 1 && c != '\n') --keep;
  if (keep != size && ::ftruncate(fd, keep) != 0) {
    err.note("procpool: cannot cut the unfinished last line of '" + path +
             "': " + errno_text(errno));
    return false;
  }
  return true;
}

}  // namespace

std::optional<std::string> done_tag_of(std::string_view line) {
  // Our own lines start {"tag":"...","state":"done"; anything else goes
  // through the full parser.
  if (auto fast = fast_done_tag(line)) return *fast;
  json j = json::parse(line, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  const auto s = j.find("state");
  if (s == j.end() || !s->is_string() || s->get_ref<const std::string&>() != "done") {
    return std::nullopt;
  }
  // A tag that is not UTF-8: its exact bytes (tag_bytes.hpp).
  if (const auto b = j.find("tag_base64"); b != j.end()) {
    if (!b->is_string()) return std::nullopt;
    return base64_decode(b->get_ref<const std::string&>());
  }
  const auto t = j.find("tag");
  if (t == j.end() || !t->is_string()) return std::nullopt;
  return t->get<std::string>();
}

bool prepare_resume(int fd, const std::string& path, tag_set& seen, console& err) {
  try {
    line_reader reader(fd, std::size_t{1} << 30U);
    for (;;) {
      const line_reader::item it = reader.next();
      if (it.st == line_reader::status::end) break;
      if (it.st != line_reader::status::line) continue;
      if (auto tag = done_tag_of(it.text)) {
        if (!tag->empty() && tag->size() <= 0xFFFF && seen.find(*tag) == nullptr) {
          seen.insert(*tag, done_earlier);
        }
      }
    }
  } catch (const std::exception& e) {
    err.note(std::string("procpool: cannot read the output for --resume: ") + e.what());
    return false;
  }
  if (!cut_unfinished_line(fd, path, err)) return false;
  ::fcntl(fd, F_SETFL, O_APPEND);
  ::lseek(fd, 0, SEEK_END);
  return true;
}

}  // namespace procpool::cli::detail
