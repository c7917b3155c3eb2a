// The command line: parses arguments into run_options / procpool::options and
// hands over to run() or lists the tasks. Everything else lives behind the
// public pool API (run.cpp) and the built-in tasks (builtins.cpp).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <limits>
#include <procpool/cli.hpp>
#include <procpool/supervisor/mpi.hpp>
#include <procpool/supervisor/options.hpp>
#include <string>
#include <vector>

#include "builtins.hpp"
#include "input.hpp"
#include "run.hpp"
#include "text.hpp"

#ifndef PROCPOOL_CLI_VERSION
#define PROCPOOL_CLI_VERSION "unknown"
#endif

namespace procpool::cli {
namespace {

constexpr int max_workers = 4096;  // procpool::options::workers' upper bound

constexpr const char* exit_codes_text =
    "Exit codes: 0 every task ended done; 1 some line did not (failed, crashed, timed_out,\n"
    "cancelled, rejected), exec output was cut (without --allow-truncation) or the output\n"
    "could not be written; 2 usage error; 3/4 stopped by\n"
    "--halt soon/now; 130/143 interrupted by SIGINT/SIGTERM; 138 stopped by SIGUSR1; 141\n"
    "standard output closed by its reader.\n"
    "Formats and details: docs/cli.md";

/// The default worker count: PROCPOOL_WORKERS when set (clamped to 1..4096),
/// else one per CPU.
int default_workers() {
  if (const char* env = std::getenv("PROCPOOL_WORKERS"); env != nullptr && *env != '\0') {
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    if (end != env && *end == '\0') {
      return static_cast<int>(std::clamp<long>(v, 1, max_workers));
    }
    std::fprintf(stderr, "procpool: ignoring PROCPOOL_WORKERS='%s' (not a number)\n", env);
  }
  return std::clamp(procpool::default_worker_count(), 1, max_workers);
}

int list_tasks(bool as_json) {
  const auto tasks = detail::list_tasks();
  std::string out;
  if (as_json) {
    out.push_back('[');
    for (std::size_t i = 0; i < tasks.size(); ++i) {
      const auto& t = tasks[i];
      if (i != 0) out.push_back(',');
      out.append("{\"name\":");
      detail::append_json_string(out, t.name);
      out.append(",\"args\":");
      detail::append_json_string(out, t.args);
      out.append(",\"arity\":");
      detail::append_int(out, static_cast<std::int64_t>(t.arity));
      out.append(",\"params\":[");
      for (std::size_t k = 0; k < t.params.size(); ++k) {
        if (k != 0) out.push_back(',');
        detail::append_json_string(out, t.params[k]);
      }
      out.push_back(']');
      out.append(",\"builtin\":");
      out.append(t.builtin ? "true" : "false");
      out.append(",\"description\":");
      detail::append_json_string(out, t.description);
      out.push_back('}');
    }
    out.append("]\n");
  } else {
    std::size_t name_w = 4;
    std::size_t args_w = 9;
    for (const auto& t : tasks) {
      name_w = std::max(name_w, t.name.size());
      args_w = std::max(args_w, t.args.size());
    }
    auto row = [&](const std::string& a, const std::string& b, const std::string& c) {
      out.append(a).append(name_w + 2 - a.size(), ' ');
      out.append(b).append(args_w + 2 - b.size(), ' ');
      out.append(c).push_back('\n');
    };
    row("TASK", "ARGUMENTS", "DESCRIPTION");
    for (const auto& t : tasks) row(t.name, t.args, t.description);
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : 1;
}

/// What the command line gives for `procpool run` in another form than
/// run_options holds it.
struct run_flags {
  std::string mode = "process";
  std::string backend = "local";
  std::string halt;       ///< --halt-on-error's value ("true", "soon", "now")
  std::string halt_rule;  ///< --halt's value
  bool progress = false;
  bool no_progress = false;
};

CLI::Validator seconds_validator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        if (end == text.c_str() || *end != '\0' || !std::isfinite(v) || v < 0 ||
            v > detail::max_timeout_seconds) {
          return "must be a number of seconds from 0 (no limit) to 1e7";
        }
        return {};
      },
      "SECONDS", "seconds");
}

/// A whole number from `lo` to `hi`, else `message`. CLI11's PositiveNumber
/// names its bound as a 309-digit double, and a size_t option takes "-1" as
/// 2^64-1: both are worse than saying the range.
CLI::Validator count_validator(long long lo, long long hi, std::string message) {
  return CLI::Validator(
      [lo, hi, message](std::string& text) -> std::string {
        errno = 0;
        char* end = nullptr;
        const long long v = std::strtoll(text.c_str(), &end, 10);
        if (end == text.c_str() || *end != '\0' || errno == ERANGE || v < lo || v > hi) {
          return message + " (got '" + text + "')";
        }
        return {};
      },
      "", "count");  // no description: the help shows the option's type_name, N
}

/// FILE, --mode ... --max-tasks-per-worker: the input, and where and how the
/// tasks run.
void add_pool_options(CLI::App& run, detail::run_options& o, run_flags& f) {
  run.add_option("file", o.input, "Task file, JSON Lines ('-' or nothing: standard input)")
      ->type_name("FILE");
  run.add_option("--mode", f.mode, "Where tasks run: process (forked workers) or thread")
      ->check(CLI::IsMember({"process", "thread"}))
      ->type_name("MODE")
      ->capture_default_str();
  run.add_option("--backend", f.backend,
                 "local (this machine) or mpi (every rank of an MPI job: start the command with "
                 "mpirun/mpiexec/srun; rank 0 reads and writes, every rank runs -j workers)")
      ->check(CLI::IsMember({"local", "mpi"}))
      ->type_name("BACKEND")
      ->capture_default_str();
  run.add_option("--heartbeat-limit", o.heartbeat_limit_seconds,
                 "--backend mpi: a rank silent this many seconds is lost, its tasks run on other "
                 "ranks (0: never)")
      ->check(seconds_validator())
      ->capture_default_str();
  // --jobs and -P: the names xargs and GNU parallel users type.
  run.add_option("-j,--workers,--jobs,-P", o.workers,
                 "Worker cap (default: PROCPOOL_WORKERS or one per CPU; above 4096 is clamped)")
      ->check(count_validator(1, std::numeric_limits<int>::max(),
                              "must be a whole number of workers, 1 or more (above 4096 is clamped)"))
      ->type_name("N")
      ->capture_default_str();
  run.add_option("--max-queue", o.max_queue, "Tasks queued ahead of the workers (1 to 16777216)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 24U))
      ->type_name("N")
      ->capture_default_str();
  run.add_option("--timeout", o.timeout_seconds,
                 "Time limit of each task in seconds, fractions allowed (0: none); a line's "
                 "\"timeout\" overrides it")
      ->check(seconds_validator());
  run.add_option("--retries", o.retries,
                 "Extra attempts for a task that fails, crashes or times out; a line's "
                 "\"retries\" overrides it")
      ->check(CLI::Range(0, detail::max_retries))
      ->type_name("N");
  run.add_option("--max-tasks-per-worker", o.max_tasks_per_worker,
                 "Replace a worker after this many tasks (0: never)")
      ->check(count_validator(0, std::numeric_limits<std::uint32_t>::max(),
                              "must be a whole number from 0 (never) to 4294967295"))
      ->type_name("N");
}

/// -o ... --allow-truncation: where the results go, how the run stops and what
/// it shows.
void add_output_options(CLI::App& run, detail::run_options& o, run_flags& f) {
  CLI::Option* output =
      run.add_option("-o,--output", o.output, "Write the result lines to FILE (default: stdout)")
          ->type_name("FILE");
  run.add_option("--joblog", o.joblog,
                 "Write a GNU parallel style joblog (tab-separated: Seq Host Starttime JobRuntime "
                 "Send Receive Exitval Signal Command)")
      ->type_name("FILE");
  run.add_flag("--resume", o.resume,
               "Skip the tags already done in --output and append the other results to it")
      ->needs(output);
  run.add_flag("-k,--keep-order", o.keep_order,
               "Write results in input order (default: as they finish)");
  CLI::Option* halt =
      run.add_option("--halt", f.halt_rule,
                     "Stop on failures: soon,fail=N (stop reading, cancel the queued tasks, let "
                     "the running ones finish), now,fail=N (terminate them too), or fail=N% of "
                     "the lines ended so far")
          ->check(CLI::Validator(
              [](std::string& text) {
                detail::halt_rule ignored;
                return detail::parse_halt(text, ignored);
              },
              "", "halt"))
          ->type_name("WHEN,fail=N[%]");
  run.add_flag("--halt-on-error", f.halt, "Same as --halt soon,fail=1 (=now: --halt now,fail=1)")
      ->option_text("[=now]")
      ->excludes(halt);
  CLI::Option* progress_opt = run.add_flag(
      "--progress", f.progress,
      "Show done/total, rate, ETA and failures on stderr (default: when stderr is a terminal)");
  run.add_flag("--no-progress", f.no_progress, "Never show progress")->excludes(progress_opt);
  CLI::Option* quiet = run.add_flag("-q,--quiet", o.quiet, "No progress and no summary on stderr");
  quiet->excludes(progress_opt);
  run.add_option("--max-line-bytes", o.max_line_bytes,
                 "Reject input lines longer than this (1 to 1073741824)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30U))
      ->type_name("N")
      ->capture_default_str();
  run.add_option("--max-output", o.max_output,
                 "exec: bytes kept of each of stdout and stderr (1 to 67108864); a task whose "
                 "output was cut says \"truncated\" and fails the run")
      ->check(CLI::Range(std::size_t{1}, std::size_t{64} << 20U))  // detail::max_max_output
      ->type_name("BYTES")
      ->capture_default_str();
  run.add_flag("--allow-truncation", o.allow_truncation,
               "Output cut at --max-output does not make the exit code non-zero");
  run.add_option("--results", o.results,
                 "Write DIR/<tag>/stdout, stderr (exec: all of it, streamed) and result.json "
                 "for each job (tags escaped, see docs/cli.md)")
      ->type_name("DIR");
  run.add_flag("--stdout", o.stdout_mode,
               "Show each job's output (grouped, as it ends) instead of result lines; result "
               "lines go to --output, if given");
  run.add_flag("--tag", o.tag_lines,
               "With --stdout (implied): start each output line with the job's arguments "
               "(--tagstring: its tag) and a TAB");
}

CLI::App* add_run_command(CLI::App& app, detail::run_options& o, run_flags& f) {
  CLI::App* run = app.add_subcommand(
      "run",
      "Run the tasks of a JSON Lines file (or standard input), one result line per input line.\n"
      "Input line: {\"tag\": \"a1\", \"task\": \"exec\", \"args\": [\"gzip\", \"x.log\"], "
      "\"timeout\": 30, \"retries\": 1}");
  run->footer(exit_codes_text);
  // A repeated option takes its last value (`-j 2 ... -j 4` is -j 4), as in GNU tools.
  run->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  add_pool_options(*run, o, f);
  add_output_options(*run, o, f);
  // Command templates (`-- CMD ARG... ::: A B`): the template itself is taken
  // off argv before parsing (split_template_args); these shape it.
  run->add_flag("-0,--null", o.tmpl.null_separated,
                "Template arguments from standard input or :::: files end with NUL, not newline");
  run->add_flag("--link", o.tmpl.link, "Pair the template's sources element by element");
  run->add_flag("--dry-run", o.tmpl.dry_run, "Print each template job's argv and run nothing");
  run->add_option("--tagstring", o.tmpl.tagstring,
                  "Tag template jobs with this (replacement strings allowed; default: {#})")
      ->type_name("TEMPLATE");
  return run;
}

/// The flags' values into `o` (after parsing).
void apply_run_flags(const run_flags& f, detail::run_options& o) {
  o.mode = f.mode == "thread" ? procpool::mode::thread : procpool::mode::process;
  o.backend = f.backend == "mpi" ? procpool::backend_kind::mpi : procpool::backend_kind::local;
  if (o.tag_lines) o.stdout_mode = true;
  if (o.workers > max_workers) {
    std::fprintf(stderr, "procpool: -j %d is more than %d; using %d\n", o.workers, max_workers,
                 max_workers);
    o.workers = max_workers;
  }
  if (!f.halt_rule.empty()) {
    (void)detail::parse_halt(f.halt_rule, o.halt);  // validated while parsing
  } else if (!f.halt.empty()) {
    o.halt.policy = f.halt == "now" ? detail::halt_policy::now : detail::halt_policy::soon;
    o.halt.fail_count = 1;
  }
  o.progress = f.progress ? 1 : (f.no_progress ? 0 : -1);
}

/// argv with "--halt-on-error now" (or soon) joined into "--halt-on-error=now":
/// as a flag CLI11 would take that "now" as the input file. One meaning for
/// those words after it; a file called now is ./now.
std::vector<std::string> joined_halt_values(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  for (std::size_t i = 1; i + 1 < args.size(); ++i) {
    if (args[i] == "--") break;  // what follows is positional
    if (args[i] == "--halt-on-error" && (args[i + 1] == "now" || args[i + 1] == "soon")) {
      args[i] += "=" + args[i + 1];
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i) + 1);
    }
  }
  return args;
}

int main_impl(int argc, char** argv) {
  detail::register_builtin_tasks();

  CLI::App app{
      "procpool: run batches of tasks from JSON Lines over a pool of worker processes "
      "or threads",
      "procpool"};
  app.set_version_flag("--version", std::string("procpool ") + PROCPOOL_CLI_VERSION);
  app.require_subcommand(1);
  app.footer(exit_codes_text);

  detail::run_options o;
  o.workers = default_workers();  // before add_run_command: the help shows it
  run_flags flags;
  add_run_command(app, o, flags);

  bool tasks_json = false;
  CLI::App* tasks =
      app.add_subcommand("tasks", "List the tasks this program can run, with their arguments");
  tasks->add_flag("--json", tasks_json, "As one JSON array");

  // CLI11 reports an unknown first word as "A subcommand is required"; name it.
  if (argc > 1 && argv[1][0] != '-') {
    try {
      (void)app.get_subcommand(argv[1]);
    } catch (const CLI::OptionNotFound&) {
      std::fprintf(stderr, "procpool: unknown command '%s' (commands: run, tasks; see --help)\n", argv[1]);
      return detail::exit_usage;
    }
  }
  std::vector<std::string> args = joined_halt_values(argc, argv);
  // `run ... -- CMD ::: ARGS`: what follows `--`, `:::` or `::::` is the
  // template, never options or the input file.
  if (const std::string e = detail::split_template_args(args, o.tmpl); !e.empty()) {
    std::fprintf(stderr, "procpool: %s\n", e.c_str());
    return detail::exit_usage;
  }
  std::vector<char*> arg_ptrs;
  for (std::string& a : args) arg_ptrs.push_back(a.data());
  try {
    app.parse(static_cast<int>(arg_ptrs.size()), arg_ptrs.data());
    if (!flags.halt.empty() && flags.halt != "true" && flags.halt != "soon" &&
        flags.halt != "now") {
      throw CLI::ValidationError("--halt-on-error",
                                 "takes no value, =soon or =now (got '" + flags.halt + "')");
    }
    if (flags.backend == "mpi" && !o.results.empty()) {
      // Refused rather than written on whichever node ran a job: the files of
      // one run would be scattered over the nodes' file systems.
      throw CLI::ValidationError("--results",
                                 "is not available with --backend mpi (each job's files would be written on "
                                 "the node that ran it); -o keeps --max-output bytes of each job's stdout and "
                                 "stderr in its result line, and --stdout prints them");
    }
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);  // prints help, the version, or the error
    return rc == 0 ? 0 : detail::exit_usage;
  }

  if (tasks->parsed()) return list_tasks(tasks_json);
  apply_run_flags(flags, o);
  return detail::run(o);
}

}  // namespace

int main(int argc, char** argv) noexcept {
  try {
    // Under an MPI launcher, ranks other than 0 serve rank 0's pool and exit
    // here (the built-in tasks first: every rank's registry must match).
    detail::register_builtin_tasks();
    procpool::mpi::serve_if_agent(argc, argv);
    return main_impl(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "procpool: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "procpool: unexpected error\n");
  }
  return detail::exit_not_all_done;
}

}  // namespace procpool::cli
