// procpool::cli: the `procpool` command as a library function.
//
// "Your tasks, our runner": a program that registers its own tasks with
// PROCPOOL_TASK gets the whole `procpool` command (`run`, `tasks`) over its
// tasks and the built-in ones (exec, sleep, primes, echo, sha256) by calling
// procpool::cli::main from its own main:
//
//   #include <procpool/cli.hpp>
//   #include <procpool/procpool.hpp>
//
//   PROCPOOL_TASK(resize, [](const std::string& path, int width) { ... });
//
//   int main(int argc, char** argv) { return procpool::cli::main(argc, argv); }
//
// and then:  ./my_runner run -j 8 jobs.jsonl > results.jsonl
//
// The input and output formats, the options and the exit codes are described
// in docs/cli.md and by `--help`.
#pragma once

namespace procpool::cli {

/// Runs the `procpool` command with the program's arguments (argv[0] is the
/// program name) and returns its exit status:
///   0    every task ended `done`;
///   1    some line did not end `done` (failed, crashed, timed_out, cancelled,
///        rejected), `exec` output was cut at --max-output (unless
///        --allow-truncation), or the output could not be written;
///   2    a usage error (bad option or value, unreadable input, unwritable output);
///   3/4  --halt soon/now stopped the run after failures (queued lines ended
///        `cancelled`; with now, the running ones too);
///   130/143  the run was interrupted by SIGINT/SIGTERM (every line read still
///        got its result line);
///   141  standard output was closed by its reader (EPIPE, `| head -1`).
///
/// Blocks until the run ends. Call it once, from the main thread, before the
/// program starts other threads: while it runs it blocks SIGINT and SIGTERM in
/// the calling thread (they are read through a signalfd) and ignores SIGPIPE;
/// both are restored before it returns. Tasks registered with PROCPOOL_TASK take
/// precedence over built-in tasks of the same name. Never throws: errors are
/// reported on stderr and mapped to the exit codes above.
int main(int argc, char** argv) noexcept;

}  // namespace procpool::cli
