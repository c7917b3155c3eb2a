#include <procpool/shared/detail/fault.hpp>

#ifdef PROCPOOL_FAULT_INJECTION

#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace procpool::detail {
namespace {

struct fault_config {
  std::string point;
  std::string marker;
};

const fault_config& config() {
  static const fault_config c = [] {
    fault_config f;
    const char* v = std::getenv("PROCPOOL_FAULT_INJECT");
    if (v == nullptr) return f;
    const std::string s(v);
    const auto colon = s.find(':');
    if (colon == std::string::npos) return f;
    f.point = s.substr(0, colon);
    f.marker = s.substr(colon + 1);
    return f;
  }();
  return c;
}

/// True for the first process that reaches the armed `point`.
bool first_at(std::string_view point) noexcept {
  const fault_config& c = config();
  if (c.point.empty() || c.point != point) return false;
  const int fd = ::open(c.marker.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return false;  // somebody already faulted here
  ::close(fd);
  return true;
}

}  // namespace

void fault_point(std::string_view point) noexcept {
  if (first_at(point)) ::raise(SIGKILL);
}

void fault_throw(std::string_view point) {
  if (first_at(point)) throw std::runtime_error("injected fault at " + std::string(point));
}

}  // namespace procpool::detail

#endif
