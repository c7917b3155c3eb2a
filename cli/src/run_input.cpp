#include "run_input.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace procpool::cli::detail {

bool input_source::open() {
  if (o_.input.empty() || o_.input == "-") {
    fd_ = STDIN_FILENO;
    if (::isatty(STDIN_FILENO) == 1 && !o_.quiet) {
      err_.note(
          "procpool: reading tasks from the terminal, one JSON object per line (end with Ctrl-D)");
    }
  } else {
    const int fd = ::open(o_.input.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      err_.note("procpool: cannot open the input '" + o_.input + "': " + errno_text(errno));
      return false;
    }
    owned_ = procpool::detail::unique_fd(fd);
    fd_ = fd;
  }
  struct stat st {};
  if (::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode)) size_ = static_cast<std::uint64_t>(st.st_size);
  return true;
}

}  // namespace procpool::cli::detail
