#include "run_jobs.hpp"

#include <utility>
#include <vector>

#include "output.hpp"
#include "run_resume.hpp"

namespace procpool::cli::detail {

using json = nlohmann::json;

job_builder::verdict job_builder::build(std::string_view text, std::uint64_t line) {
  if (!parser_.parse(text, job_.line, error_, error_tag_)) {
    if (error_tag_ && seen_.find(*error_tag_) == nullptr && error_tag_->size() <= 0xFFFF) {
      seen_.insert(*error_tag_, line);
    }
    return reject_(std::move(error_tag_), std::move(error_.type), std::move(error_.message));
  }
  return finish_(line);
}

// A template job takes the path of a JSON line from its tag on, so --resume,
// duplicate tags and the joblog treat both alike.
// The steps every job takes once its line is read: tag check (duplicates,
// --resume), argument shape, and the joblog's command column.
job_builder::verdict job_builder::finish_(std::uint64_t line) {
  if (const verdict v = check_tag_(line); v != verdict::submit) return v;
  if (const verdict v = shape_args_(); v != verdict::submit) return v;
  if (commands_) {
    add_command_();
  } else {
    job_.command.reset();
  }
  return verdict::submit;
}

job_builder::verdict job_builder::build_exec(std::string tag, const std::vector<std::string>& argv,
                                             std::uint64_t line) {
  task_line& t = job_.line;
  t.tag = std::move(tag);
  t.task = "exec";
  t.has_args = true;
  t.args = json(argv);
  t.timeout.reset();
  t.retries.reset();
  return finish_(line);
}

job_builder::verdict job_builder::reject_(std::optional<std::string> tag, std::string type,
                                          std::string message) {
  rejection_.tag = std::move(tag);
  rejection_.type = std::move(type);
  rejection_.message = std::move(message);
  return verdict::reject;
}

// A tag is unique in the input; --resume skips the first line of a tag done
// in an earlier run.
job_builder::verdict job_builder::check_tag_(std::uint64_t line) {
  const std::string& tag = job_.line.tag;
  if (tag.size() > 0xFFFF) return verdict::submit;  // the pool refuses it (invalid_argument)
  if (std::uint64_t* first = seen_.find(tag)) {
    if (*first == done_earlier) {  // its result is in the output already
      *first = line;
      return verdict::skip;
    }
    return reject_(tag, "duplicate_tag", "tag already used on line " + std::to_string(*first));
  }
  seen_.insert(tag, line);
  return verdict::submit;
}

// "args" goes to pool::submit as written (no "args": null): the pool applies
// the library's one rule (procpool::detail::checked_positional) and refuses a
// wrong shape with bad_arguments, which becomes this line's rejection.
job_builder::verdict job_builder::shape_args_() {
  task_line& t = job_.line;
  if (t.task != cached_task_ || cached_entry_ == nullptr) {
    cached_entry_ = procpool::detail::find_task(t.task);
    cached_is_exec_ = t.task == "exec" && is_builtin(t.task);
    cached_task_ = t.task;
  }
  job_.is_exec = cached_entry_ != nullptr && cached_is_exec_;
  job_.args = t.has_args ? std::move(t.args) : json(nullptr);
  return verdict::submit;
}

void job_builder::add_command_() {
  const json& args = job_.args;
  std::vector<std::string> argv;
  bool argv_form = false;
  if (job_.is_exec) {
    // The argv as exec will see it ("ls", ["ls"] and [["ls"]] alike); a shape
    // the pool will refuse keeps its JSON text.
    try {
      const json positional = procpool::detail::checked_positional(*cached_entry_, args);
      argv = positional.at(0).is_string() ? std::vector<std::string>{positional.at(0).get<std::string>()}
                                          : positional.at(0).get<std::vector<std::string>>();
      argv_form = true;
    } catch (const std::exception&) {
      argv.clear();
    }
  }
  const std::string args_text = args.dump(-1, ' ', false, json::error_handler_t::replace);
  job_.command = std::make_shared<const std::string>(
      joblog_command(job_.line.task, argv_form ? &argv : nullptr, &args_text));
}

}  // namespace procpool::cli::detail
