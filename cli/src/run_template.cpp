#include "run_template.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "output.hpp"
#include "text.hpp"

namespace procpool::cli::detail {
namespace {

bool is_marker(const std::string& a) { return a == ":::" || a == "::::"; }

// Reads all of `fd`; false on a read error.
bool read_all(int fd, std::string& into) {
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      into.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0) {
      return true;
    } else if (errno != EINTR) {
      return false;
    }
  }
}

// One argument per separator-ended piece; a last piece without separator counts.
std::vector<std::string> split_items(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find(sep, start);
    if (end == std::string::npos) end = text.size();
    out.emplace_back(text, start, end - start);
    start = end + 1;
  }
  return out;
}

std::string read_source(const std::string& path, bool null_separated,
                        std::vector<std::string>& values) {
  const bool is_stdin = path == "-";
  const int fd = is_stdin ? 0 : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "procpool: cannot open '" + path + "': " + std::strerror(errno);
  std::string text;
  const bool ok = read_all(fd, text);
  const int saved = errno;
  if (!is_stdin) ::close(fd);
  if (!ok) return "procpool: cannot read '" + path + "': " + std::strerror(saved);
  values = split_items(text, null_separated ? '\0' : '\n');
  return {};
}

std::string_view basename_of(std::string_view s) {
  const std::size_t slash = s.rfind('/');
  return slash == std::string_view::npos ? s : s.substr(slash + 1);
}

std::string_view dirname_of(std::string_view s) {
  const std::size_t slash = s.rfind('/');
  if (slash == std::string_view::npos) return ".";
  return slash == 0 ? s.substr(0, 1) : s.substr(0, slash);
}

// Without the extension: the last '.' of the last path component (not a
// leading one, so ".bashrc" stays whole).
std::string_view no_extension(std::string_view s) {
  const std::size_t slash = s.rfind('/');
  const std::size_t from = slash == std::string_view::npos ? 0 : slash + 1;
  const std::size_t dot = s.rfind('.');
  if (dot == std::string_view::npos || dot <= from) return s;
  return s.substr(0, dot);
}

// {} with several sources: their arguments joined by spaces.
std::string joined(const std::vector<const std::string*>& args) {
  std::string all;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (i != 0) all.push_back(' ');
    all += *args[i];
  }
  return all;
}

// The value of replacement string `name` (without braces), or false when it is none.
bool expand(std::string_view name, const std::vector<const std::string*>& args,
            std::uint64_t number, std::string& out) {
  const std::string all = joined(args);
  if (name.empty()) {
    out += all;
  } else if (name == ".") {
    out += no_extension(all);
  } else if (name == "/") {
    out += basename_of(all);
  } else if (name == "//") {
    out += dirname_of(all);
  } else if (name == "/.") {
    out += no_extension(basename_of(all));
  } else if (name == "#") {
    out += std::to_string(number);
  } else if (!name.empty() && name.size() < 6 &&
             std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    const std::size_t n = std::stoul(std::string(name));
    if (n == 0 || n > args.size()) return false;
    out += *args[n - 1];
  } else {
    return false;
  }
  return true;
}

// Whether `text` holds a replacement string, with `sources` sources ({N} up to it).
bool has_placeholder(const std::string& text, std::size_t sources) {
  const std::string x = "x";
  const std::vector<const std::string*> args(sources, &x);
  for (std::size_t open = text.find('{'); open != std::string::npos; open = text.find('{', open + 1)) {
    const std::size_t close = text.find('}', open);
    if (close == std::string::npos) return false;
    std::string ignored;
    if (expand(std::string_view(text).substr(open + 1, close - open - 1), args, 1, ignored)) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::string split_template_args(std::vector<std::string>& args, template_spec& t) {
  std::size_t i = 2;  // after "procpool run"
  while (i < args.size() && args[i] != "--" && !is_marker(args[i])) ++i;
  if (i >= args.size() || args.size() < 2 || args[1] != "run") return {};
  t.active = true;
  std::size_t k = args[i] == "--" ? i + 1 : i;
  for (; k < args.size() && !is_marker(args[k]); ++k) t.command.push_back(args[k]);
  while (k < args.size()) {
    template_source src;
    src.from_file = args[k] == "::::";
    for (++k; k < args.size() && !is_marker(args[k]); ++k) {
      if (src.from_file) {
        template_source f;
        f.from_file = true;
        f.path = args[k];
        t.sources.push_back(std::move(f));
      } else {
        src.values.push_back(args[k]);
      }
    }
    if (!src.from_file) t.sources.push_back(std::move(src));
  }
  args.resize(i);
  if (t.command.empty()) return "a command template needs a command: procpool run -- CMD ARG... ::: ARGS";
  return {};
}

std::string template_jobs::open() {
  if (t_.sources.empty()) {
    template_source in;
    in.from_file = true;
    in.path = "-";
    t_.sources.push_back(std::move(in));
  }
  for (template_source& s : t_.sources) {
    if (!s.from_file) continue;
    if (std::string e = read_source(s.path, t_.null_separated, s.values); !e.empty()) return e;
  }
  total_ = t_.link ? 0 : 1;
  for (const template_source& s : t_.sources) {
    total_ = t_.link ? std::max<std::uint64_t>(total_, s.values.size()) : total_ * s.values.size();
  }
  // An empty source leaves no combination (and nothing to pair).
  for (const template_source& s : t_.sources) {
    if (s.values.empty()) total_ = 0;
  }
  index_.assign(t_.sources.size(), 0);
  placeholders_ = std::any_of(t_.command.begin(), t_.command.end(), [&](const std::string& a) {
    return has_placeholder(a, t_.sources.size());
  });
  return {};
}

bool template_jobs::next(std::string& tag, std::vector<std::string>& argv) {
  if (number_ >= total_) return false;
  // The job's arguments: --link takes element `number_` of each source (a
  // shorter one wraps around, as GNU parallel does); otherwise an odometer whose
  // last source turns fastest.
  args_.clear();
  std::uint64_t rest = number_;
  for (std::size_t s = t_.sources.size(); s-- > 0;) {
    const std::vector<std::string>& v = t_.sources[s].values;
    index_[s] = t_.link ? number_ % v.size() : rest % v.size();
    if (!t_.link) rest /= v.size();
  }
  for (std::size_t s = 0; s < t_.sources.size(); ++s) args_.push_back(&t_.sources[s].values[index_[s]]);
  ++number_;
  argv.clear();
  for (const std::string& a : t_.command) argv.push_back(fill_(a));
  if (!placeholders_) {
    for (const std::string* a : args_) argv.push_back(*a);
  }
  tag = t_.tagstring.empty() ? std::to_string(number_) : fill_(t_.tagstring);
  return true;
}

std::string template_jobs::arguments() const { return joined(args_); }

// `text` with each replacement string replaced; other braces stay as written.
std::string template_jobs::fill_(const std::string& text) const {
  std::string out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t open = text.find('{', pos);
    const std::size_t close = open == std::string::npos ? open : text.find('}', open);
    if (close == std::string::npos) break;
    out.append(text, pos, open - pos);
    if (!expand(std::string_view(text).substr(open + 1, close - open - 1), args_, number_, out)) {
      out.push_back('{');
      pos = open + 1;
      continue;
    }
    pos = close + 1;
  }
  out.append(text, pos, std::string::npos);
  return out;
}

int print_template_jobs(template_jobs& jobs) {
  std::string tag;
  std::vector<std::string> argv;
  std::string out;
  while (jobs.next(tag, argv)) {
    out += joblog_command("exec", &argv, nullptr);
    out.push_back('\n');
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace procpool::cli::detail
