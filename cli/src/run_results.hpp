// Results: what the pool reports for each submitted line becomes its result
// line and joblog line.
//
// Owns: the formatting buffers and the tag whose record the pool may now free.
// Threads: on_result() runs on the pool's callback thread only (the pool
// calls back one result at a time); callback() is called by the main thread
// to make each submission's callback.
#pragma once

#include <cstdint>
#include <memory>
#include <procpool/procpool.hpp>
#include <string>
#include <vector>

#include "run_shared.hpp"

namespace procpool::cli::detail {

class result_handler {
 public:
  explicit result_handler(run_shared& shared) : s_(shared) {}

  /// The pool the results come from (it frees each tag's record once written).
  void attach(procpool::pool& pool) noexcept { pool_ = &pool; }

  /// The callback for input line `line`; `command` is its joblog Command
  /// column (null: no joblog); `label` its --tag prefix under --stdout (null:
  /// the tag, when lines are tagged).
  [[nodiscard]] procpool::callback callback(std::uint64_t line, bool is_exec,
                                            std::shared_ptr<const std::string> command,
                                            std::shared_ptr<const std::string> label = nullptr);

  /// The first tags whose exec output was cut (at most max_listed); read once
  /// the pool has joined.
  [[nodiscard]] const std::vector<std::string>& truncated_tags() const noexcept {
    return truncated_tags_;
  }
  static constexpr std::size_t max_listed = 20;

 private:
  void on_result_(const procpool::result& r, std::uint64_t packed, const std::string* command,
                  const std::string* label);
  void emit_(const procpool::result& r, std::uint64_t line, bool is_exec, const std::string* label);
  void free_previous_(const std::string& tag);

  run_shared& s_;
  procpool::pool* pool_ = nullptr;
  std::string buf_;
  std::string joblog_buf_;
  std::string shown_out_;  // --stdout: the job's output
  std::string shown_err_;
  std::string prev_tag_;
  std::vector<std::string> truncated_tags_;
};

}  // namespace procpool::cli::detail
