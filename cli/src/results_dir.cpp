#include "results_dir.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "sha256.hpp"

namespace procpool::cli::detail {
namespace {

using procpool::detail::unique_fd;

std::string the_dir;  // NOLINT: set once before the pool starts, then only read

constexpr std::size_t max_component = 200;
constexpr std::size_t kept_when_long = 128;

bool kept_as_is(unsigned char c, bool first) {
  if (c == '.') return !first;
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

std::string errno_text(int e) { return std::strerror(e); }

// mkdir -p: each missing component in turn.
bool make_dirs(const std::string& path) {
  for (std::size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const std::string part = path.substr(0, slash);
    if (::mkdir(part.c_str(), 0777) != 0 && errno != EEXIST) return false;
    if (slash == std::string::npos) break;
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  if (!S_ISDIR(st.st_mode)) {
    errno = ENOTDIR;
    return false;
  }
  return true;
}

std::string job_dir(std::string_view tag) { return the_dir + "/" + tag_path_component(tag); }

// DIR/<tag>/, created if missing. Throws naming the path.
std::string ensure_job_dir(std::string_view tag) {
  std::string d = job_dir(tag);
  if (::mkdir(d.c_str(), 0777) != 0 && errno != EEXIST) {
    throw std::runtime_error("cannot create '" + d + "': " + errno_text(errno));
  }
  return d;
}

unique_fd open_truncated(const std::string& path) {
  unique_fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0666));
  if (fd.get() < 0) throw std::runtime_error("cannot open '" + path + "': " + errno_text(errno));
  return fd;
}

bool write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

std::string tag_path_component(std::string_view tag) {
  static constexpr std::string_view hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(tag.size());
  for (std::size_t i = 0; i < tag.size(); ++i) {
    const auto c = static_cast<unsigned char>(tag[i]);
    if (kept_as_is(c, i == 0)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4U]);
      out.push_back(hex[c & 0xFU]);
    }
  }
  if (out.size() <= max_component) return out;
  // Cut on an escape's boundary, then name the whole tag by its digest.
  std::size_t cut = kept_when_long;
  for (std::size_t back = 1; back <= 2; ++back) {
    if (out[cut - back] == '%') cut -= back;
  }
  out.resize(cut);
  sha256 digest;
  digest.update(tag.data(), tag.size());
  return out + "%%" + digest.finish_hex();
}

std::string set_results_dir(const std::string& dir) {
  std::string d = dir;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  if (d.empty()) return "--results needs a directory";
  if (!make_dirs(d)) return "cannot create the --results directory '" + dir + "': " + errno_text(errno);
  the_dir = std::move(d);
  return {};
}

const std::string& results_dir() noexcept { return the_dir; }

job_output_files open_job_output(std::string_view tag) {
  const std::string d = ensure_job_dir(tag);
  job_output_files f;
  f.out = open_truncated(d + "/stdout");
  f.err = open_truncated(d + "/stderr");
  return f;
}

std::string write_job_result(std::string_view tag, std::string_view text) {
  try {
    const std::string d = ensure_job_dir(tag);
    const std::string tmp = d + "/.result.json.tmp";
    const std::string path = d + "/result.json";
    unique_fd fd = open_truncated(tmp);
    if (!write_all(fd.get(), text)) return "cannot write '" + tmp + "': " + errno_text(errno);
    fd.reset();
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      return "cannot rename '" + tmp + "' to '" + path + "': " + errno_text(errno);
    }
  } catch (const std::exception& e) {
    return e.what();
  }
  return {};
}

}  // namespace procpool::cli::detail
