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
  if (::fstat(fd_, &st) != 0) return true;  // nothing to check; reading will say what is wrong
  if (S_ISDIR(st.st_mode)) {
    // open() takes a directory; read() would fail only after the pool started.
    err_.note("procpool: the input '" + o_.input + "' is a directory, not a file of task lines");
    return false;
  }
  if (S_ISREG(st.st_mode)) size_ = static_cast<std::uint64_t>(st.st_size);
  return not_written_to_(st);
}

// Opening --output (truncated unless --resume) or --joblog on the input would
// destroy the lines before they are read.
bool input_source::not_written_to_(const struct stat& in) {
  for (const std::string* path : {&o_.output, &o_.joblog}) {
    struct stat st {};
    if (path->empty() || ::stat(path->c_str(), &st) != 0) continue;
    if (st.st_dev == in.st_dev && st.st_ino == in.st_ino && S_ISREG(st.st_mode)) {
      err_.note("procpool: '" + *path + "' is the input file too; write the results elsewhere");
      return false;
    }
  }
  return true;
}

}  // namespace procpool::cli::detail
