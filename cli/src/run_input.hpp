// Where `procpool run` reads its task lines from: standard input or a file.
//
// Owns: the input descriptor (when it opened a file) and what is known of its
// size. Threads: the main thread (the control thread reads input_size() for
// the progress estimate; it is fixed before that thread starts).
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <procpool/shared/detail/posix.hpp>

#include "input.hpp"
#include "run.hpp"
#include "run_console.hpp"

namespace procpool::cli::detail {

class input_source {
 public:
  input_source(const run_options& o, console& err) : o_(o), err_(err) {}

  /// Opens --input ("-" or empty: standard input, with a hint when it is a
  /// terminal). False after a note: the input cannot be opened, is a
  /// directory, or is the --output or --joblog file.
  bool open();

  /// A reader of the input's lines; a blocked read returns `interrupted` once
  /// `interrupt_fd` is readable.
  [[nodiscard]] line_reader reader(int interrupt_fd) const {
    return line_reader(fd_, o_.max_line_bytes, interrupt_fd);
  }

  /// The size of a regular file, else 0 (unknown).
  [[nodiscard]] std::uint64_t input_size() const noexcept { return size_; }

 private:
  const run_options& o_;
  console& err_;
  procpool::detail::unique_fd owned_;
  int fd_ = 0;
  std::uint64_t size_ = 0;

  bool not_written_to_(const struct stat& in);
};

}  // namespace procpool::cli::detail
