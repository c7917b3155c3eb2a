// End-to-end tests of the `procpool` binary: input validation, output format,
// exit codes, --keep-order, --joblog, --resume after a signal, a
// closed stdout, exec without a shell, time limits, and thread vs process mode.
//
// Naming: cases that run process mode or start programs with `exec` carry
// "Process" or "Exec" in their names (ctest labels them notsan: TSan and fork
// from a threaded parent do not mix). Thread-mode cases without exec run
// under TSan too.
#include <random>
#include <set>

#include "cli_test_util.hpp"

namespace {

using namespace procpool_cli_test;

std::string mode_name(bool process) { return process ? "process" : "thread"; }

/// {"tag","task","args"} lines from (tag, task, args) triples.
std::string lines(std::initializer_list<std::tuple<std::string, std::string, json>> items) {
  std::string s;
  for (const auto& [tag, task, args] : items) s += task_line(tag, task, args);
  return s;
}

/// The result fields that do not depend on timing or pids.
json stable(json r) {
  for (const char* k : {"worker_pid", "started_at", "elapsed_ms"}) r.erase(k);
  return r;
}

// ---- help, version, tasks, usage errors --------------------------------------------------------

TEST(CliUsageTest, HelpAndVersion_ExitZero) {
  temp_dir d;
  auto help = run_procpool(d, {"--help"}, "");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("run"), std::string::npos);
  auto run_help = run_procpool(d, {"run", "--help"}, "");
  EXPECT_EQ(run_help.exit_code, 0);
  for (const char* opt :
       {"--mode", "--workers", "--max-queue", "--timeout", "--retries", "--max-tasks-per-worker",
        "--output", "--joblog", "--resume", "--keep-order", "--halt-on-error", "--progress",
        "--no-progress", "--quiet", "--max-line-bytes"}) {
    EXPECT_NE(run_help.out.find(opt), std::string::npos) << opt;
  }
  auto version = run_procpool(d, {"--version"}, "");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_NE(version.out.find("procpool"), std::string::npos);
}

TEST(CliUsageTest, BadOptions_ExitTwo) {
  temp_dir d;
  const std::vector<std::vector<std::string>> bad = {
      {},                                      // no subcommand
      {"frobnicate"},                          // unknown subcommand
      {"run", "--mode", "fiber"},              // not a mode
      {"run", "-j", "0"},                      // no workers
      {"run", "-j", "many"},                   // not a number
      {"run", "--max-queue", "0"},             //
      {"run", "--timeout", "-1"},              //
      {"run", "--timeout", "nan"},             //
      {"run", "--retries", "-2"},              //
      {"run", "--max-line-bytes", "0"},        //
      {"run", "--resume"},                     // --resume needs --output
      {"run", "--halt-on-error=later"},        //
      {"run", "--progress", "--no-progress"},  //
      {"run", "--quiet", "--progress"},        //
      {"run", "--no-such-option"},             //
      {"run", "does-not-exist.jsonl"},         // unreadable input
      {"run", "--output", "/nonexistent-dir/out.jsonl"},
  };
  for (const auto& args : bad) {
    auto o = run_procpool(d, args, "");
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    EXPECT_EQ(o.exit_code, 2) << joined << "\nstderr: " << o.err;
    EXPECT_FALSE(o.err.empty()) << joined;
    EXPECT_TRUE(o.out.empty()) << joined;
  }
}

TEST(CliUsageTest, TasksCommand_ListsTheBuiltins) {
  temp_dir d;
  auto o = run_procpool(d, {"tasks"}, "");
  ASSERT_EQ(o.exit_code, 0);
  const auto rows = lines_of(o.out);
  ASSERT_GE(rows.size(), 6U);
  EXPECT_EQ(rows[0].rfind("TASK", 0), 0U);
  for (const char* name : {"echo", "exec", "primes", "sha256", "sleep"}) {
    bool found = false;
    for (const auto& r : rows) found = found || r.rfind(std::string(name) + " ", 0) == 0;
    EXPECT_TRUE(found) << name << " not listed:\n" << o.out;
  }
  auto js = run_procpool(d, {"tasks", "--json"}, "");
  ASSERT_EQ(js.exit_code, 0);
  const json list = json::parse(js.out);
  ASSERT_TRUE(list.is_array());
  std::set<std::string> names;
  for (const json& t : list) {
    names.insert(t.at("name").get<std::string>());
    EXPECT_TRUE(t.at("builtin").get<bool>());
    EXPECT_FALSE(t.at("args").get<std::string>().empty());
  }
  EXPECT_EQ(names, (std::set<std::string>{"echo", "exec", "primes", "sha256", "sleep"}));
}

// ---- results, exit codes -----------------------------------------------------------------------

class CliModeTest : public ::testing::TestWithParam<bool> {
 protected:
  [[nodiscard]] std::vector<std::string> base() const {
    return {"run", "--mode", mode_name(GetParam()), "-j", "2", "--no-progress"};
  }
  [[nodiscard]] std::vector<std::string> args(std::initializer_list<std::string> more) const {
    auto a = base();
    a.insert(a.end(), more.begin(), more.end());
    return a;
  }
};

TEST_P(CliModeTest, AllDone_ExitZeroAndOneLinePerTag) {
  temp_dir d;
  d.write("data.txt", "abc");
  const std::string input = lines({{"e1", "echo", json::array({1, "two", json{{"k", nullptr}}})},
                                   {"e2", "echo", "just a string"},
                                   {"p1", "primes", 100},
                                   {"p2", "primes", json::array({1000})},
                                   {"s1", "sleep", 5},
                                   {"h1", "sha256", "data.txt"}}) +
                            R"({"tag":"e3","task":"echo"})" + "\n";
  auto o = run_procpool(d, args({"-"}), input);
  ASSERT_EQ(o.exit_code, 0) << o.err;
  const auto res = by_tag(results_of(o.out));
  ASSERT_EQ(res.size(), 7U) << o.out;
  for (const auto& [tag, r] : res) {
    EXPECT_EQ(r["state"], "done") << r;
    EXPECT_EQ(r["attempts"], 1) << r;
    EXPECT_GT(r["worker_pid"].get<int>(), 0);
    EXPECT_TRUE(r.contains("started_at"));
    EXPECT_TRUE(r.contains("elapsed_ms"));
    EXPECT_FALSE(r.contains("error"));
  }
  EXPECT_EQ(res.at("e1")["value"], json::array({1, "two", json{{"k", nullptr}}}));
  EXPECT_EQ(res.at("e2")["value"], "just a string");
  EXPECT_TRUE(res.at("e3")["value"].is_null());
  EXPECT_EQ(res.at("p1")["value"], 25);
  EXPECT_EQ(res.at("p2")["value"], 168);
  EXPECT_TRUE(res.at("s1")["value"].is_null());
  EXPECT_EQ(res.at("h1")["value"],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(res.at("e1")["line"], 1);
  EXPECT_EQ(res.at("e3")["line"], 7);
  EXPECT_NE(o.err.find("7 tasks: 7 done"), std::string::npos) << o.err;
}

TEST_P(CliModeTest, FailingTask_ExitOneAndErrorObject) {
  temp_dir d;
  const std::string input = lines({{"ok", "echo", 1}, {"missing", "sha256", "no-such-file"}});
  auto o = run_procpool(d, args({}), input);
  EXPECT_EQ(o.exit_code, 1);
  const auto res = by_tag(results_of(o.out));
  ASSERT_EQ(res.size(), 2U);
  EXPECT_EQ(res.at("ok")["state"], "done");
  const json& m = res.at("missing");
  EXPECT_EQ(m["state"], "failed");
  EXPECT_EQ(m["error"]["type"], "std::system_error");
  EXPECT_NE(m["error"]["message"].get<std::string>().find("no-such-file"), std::string::npos);
  EXPECT_FALSE(m.contains("value"));
}

TEST_P(CliModeTest, QuietRun_PrintsNothingOnStderr) {
  temp_dir d;
  auto o = run_procpool(d, args({"--quiet"}), lines({{"a", "echo", 1}}));
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(o.err, "");
  EXPECT_EQ(results_of(o.out).size(), 1U);
}

TEST_P(CliModeTest, EmptyInput_ExitZeroNoOutput) {
  temp_dir d;
  auto o = run_procpool(d, args({}), "");
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "");
}

// Every bad-input case of the issue, between good lines that must still run.
TEST_P(CliModeTest, BadLines_AreRejectedAndGoodLinesAroundThemRun) {
  temp_dir d;
  const std::string deep = std::string(300, '[') + std::string(300, ']');
  struct bad_line {
    std::string text;
    std::string type;
    json tag;
  };
  const std::vector<bad_line> bad = {
      {"{\"tag\":\"m1\",\"task\":\"echo\",\"args\":[1,2}", "invalid_json", nullptr},
      {"{\"tag\":\"g1\",\"task\":\"echo\"} trailing", "trailing_garbage", nullptr},
      {"", "empty_line", nullptr},
      {"   ", "empty_line", nullptr},
      {"{\"tag\":\"u1\",\"task\":\"echo\",\"args\":\"\xC3\x28\"}", "invalid_utf8", nullptr},
      {"{\"tag\":\"d1\",\"task\":\"echo\",\"args\":" + deep + "}", "too_deep", nullptr},
      {"{\"tag\":\"n1\",\"task\":\"echo\",\"args\":NaN}", "invalid_number", nullptr},
      {"{\"tag\":\"n2\",\"task\":\"echo\",\"args\":[Infinity]}", "invalid_number", nullptr},
      {"{\"tag\":\"n3\",\"task\":\"echo\",\"args\":-1e400}", "invalid_number", nullptr},
      {"{\"tag\":\"k1\",\"task\":\"echo\",\"task\":\"echo\"}", "duplicate_key", nullptr},
      {"{\"tag\":\"k2\",\"task\":\"echo\",\"args\":{\"a\":1,\"a\":1}}", "duplicate_key", nullptr},
      {"{\"task\":\"echo\"}", "bad_tag", nullptr},
      {"{\"tag\":12,\"task\":\"echo\"}", "bad_tag", nullptr},
      {"{\"tag\":\"\",\"task\":\"echo\"}", "bad_tag", nullptr},
      {"{\"tag\":\"good1\",\"task\":\"echo\",\"args\":2}", "duplicate_tag", "good1"},
      {"{\"tag\":\"t1\",\"task\":\"no_such_task\"}", "unknown_task", "t1"},
      {"{\"tag\":\"a1\",\"task\":\"sleep\",\"args\":\"ten\"}", "bad_arguments", "a1"},
      {"{\"tag\":\"a2\",\"task\":\"sleep\",\"args\":[1,2]}", "bad_arguments", "a2"},
      {"{\"tag\":\"a3\",\"task\":\"primes\",\"args\":-5}", "bad_arguments", "a3"},
      {"{\"tag\":\"a4\",\"task\":\"exec\",\"args\":[]}", "bad_arguments", "a4"},
      {"{\"tag\":\"a5\",\"task\":\"exec\",\"args\":[\"ls\",3]}", "bad_arguments", "a5"},
      {"{\"tag\":\"a6\",\"task\":\"sha256\"}", "bad_arguments", "a6"},
      {"{\"tag\":\"f1\",\"task\":\"echo\",\"timeout\":\"soon\"}", "bad_field", "f1"},
      {"{\"tag\":\"f2\",\"task\":\"echo\",\"retries\":-1}", "bad_field", "f2"},
      {"{\"tag\":\"f3\",\"task\":\"echo\",\"argz\":1}", "unknown_key", "f3"},
      {"[\"tag\",\"task\"]", "not_an_object", nullptr},
      {std::string(2000, 'x'), "line_too_long", nullptr},
  };
  std::string input = task_line("good1", "echo", 1);
  for (std::size_t i = 0; i < bad.size(); ++i) {
    input += bad[i].text + "\n";
    input += task_line("good" + std::to_string(i + 2), "echo", static_cast<int>(i));
  }
  auto o = run_procpool(d, args({"--max-line-bytes", "1000"}), input, 60s);
  ASSERT_TRUE(o.finished);
  EXPECT_EQ(o.exit_code, 1) << o.err;
  const auto res = by_line(results_of(o.out));
  ASSERT_EQ(res.size(), 1 + 2 * bad.size()) << o.out;
  EXPECT_EQ(res.at(1)["state"], "done");
  for (std::size_t i = 0; i < bad.size(); ++i) {
    const auto bad_no = static_cast<std::int64_t>(2 + 2 * i);
    const json& r = res.at(bad_no);
    EXPECT_EQ(r["state"], "rejected") << bad[i].text.substr(0, 80) << " -> " << r;
    EXPECT_EQ(r["error"]["type"], bad[i].type) << bad[i].text.substr(0, 80) << " -> " << r;
    EXPECT_FALSE(r["error"]["message"].get<std::string>().empty());
    EXPECT_EQ(r["tag"], bad[i].tag) << r;
    EXPECT_EQ(r["attempts"], 0);
    const json& good = res.at(bad_no + 1);
    EXPECT_EQ(good["state"], "done") << good;
    EXPECT_EQ(good["value"], static_cast<int>(i));
  }
  EXPECT_NE(o.err.find(std::to_string(bad.size()) + " rejected"), std::string::npos) << o.err;
}

TEST_P(CliModeTest, CrlfBomAndLastLineWithoutNewline_AreAccepted) {
  temp_dir d;
  const std::string input =
      "\xEF\xBB\xBF{\"tag\":\"a\",\"task\":\"echo\",\"args\":1}\r\n"
      "{\"tag\":\"b\",\"task\":\"echo\",\"args\":2}\r\n"
      "\xEF\xBB\xBF{\"tag\":\"c\",\"task\":\"echo\",\"args\":3}\n"
      "{\"tag\":\"d\",\"task\":\"echo\",\"args\":4}";
  auto o = run_procpool(d, args({}), input);
  EXPECT_EQ(o.exit_code, 1);  // the BOM on line 3 is not at the start of the input
  const auto res = by_line(results_of(o.out));
  ASSERT_EQ(res.size(), 4U);
  EXPECT_EQ(res.at(1)["state"], "done");
  EXPECT_EQ(res.at(2)["state"], "done");
  EXPECT_EQ(res.at(3)["state"], "rejected");
  EXPECT_EQ(res.at(4)["state"], "done");
  EXPECT_EQ(res.at(4)["value"], 4);
}

TEST_P(CliModeTest, LongLine_IsRejectedWithoutBeingBuffered) {
  temp_dir d;
  // 64 MiB on one line, limit 4 KiB: the command's peak memory must stay far
  // below what holding that line would take. (Written in pieces: the test itself
  // never holds it, so the child's peak RSS, which starts from the spawning
  // process's, means what it says.) Compared with a run of the two short lines
  // alone, so sanitizer builds with their bigger baseline measure the same thing.
  child::options base;
  base.stdin_file =
      d.write("small.jsonl", task_line("before", "echo", 1) + task_line("after", "echo", 2));
  base.cwd = d.path();
  child small(args({"--max-line-bytes", "4096"}), base);
  const long baseline_kb = small.wait(60s).max_rss_kb;
  const std::string path = d.file("huge.jsonl");
  {
    std::ofstream f(path, std::ios::binary);
    f << task_line("before", "echo", 1) << "{\"tag\":\"huge\",\"task\":\"echo\",\"args\":\"";
    const std::string chunk(1U << 20U, 'x');
    for (int i = 0; i < 64; ++i) f << chunk;
    f << "\"}\n" << task_line("after", "echo", 2);
  }
  child::options co;
  co.stdin_file = path;
  co.cwd = d.path();
  child c(args({"--max-line-bytes", "4096"}), co);
  auto o = c.wait(60s);
  EXPECT_EQ(o.exit_code, 1);
  const auto res = by_line(results_of(o.out));
  ASSERT_EQ(res.size(), 3U);
  EXPECT_EQ(res.at(2)["error"]["type"], "line_too_long");
  EXPECT_EQ(res.at(3)["state"], "done");
  EXPECT_LT(o.max_rss_kb, baseline_kb + 24 * 1024)
      << "peak RSS " << o.max_rss_kb << " KiB, " << baseline_kb << " KiB without the long line";
}

TEST_P(CliModeTest, RandomBytes_NeverCrashOrHang) {
  temp_dir d;
  std::mt19937 rng(20240501);  // fixed seed: the same bytes every run
  for (int round = 0; round < 8; ++round) {
    std::string input;
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_int_distribution<int> kind(0, 9);
    for (int i = 0; i < 4096; ++i) {
      const int k = kind(rng);
      if (k == 0) {
        input.push_back('\n');
      } else if (k < 3) {
        static const char* pieces[] = {
            "{\"tag\":", "\"task\":\"echo\"", ",",         "}",    "[", "\"", "\\u",
            "\r\n",      "\xEF\xBB\xBF",      "\"args\":", "1e999"};
        input += pieces[static_cast<std::size_t>(byte(rng)) % 11];
      } else {
        input.push_back(static_cast<char>(byte(rng)));
      }
    }
    auto o = run_procpool(d, args({"--max-line-bytes", "512"}), input, 30s);
    ASSERT_TRUE(o.finished) << "round " << round << " hung";
    EXPECT_EQ(o.signal, 0) << "round " << round;
    EXPECT_TRUE(o.exit_code == 0 || o.exit_code == 1) << "round " << round << ": " << o.err;
    // One result line per input line.
    std::size_t n_lines = static_cast<std::size_t>(std::count(input.begin(), input.end(), '\n'));
    if (!input.empty() && input.back() != '\n') ++n_lines;
    const auto res = results_of(o.out);
    EXPECT_EQ(res.size(), n_lines) << "round " << round;
  }
}

TEST_P(CliModeTest, KeepOrder_WritesInInputOrder) {
  temp_dir d;
  // Later lines finish first; a rejected line sits in the middle.
  std::string input;
  for (int i = 0; i < 6; ++i) input += task_line("s" + std::to_string(i), "sleep", 60 - 10 * i);
  input += "not json\n";
  for (int i = 0; i < 20; ++i) input += task_line("e" + std::to_string(i), "echo", i);
  auto o = run_procpool(d, args({"--keep-order"}), input);
  EXPECT_EQ(o.exit_code, 1);
  const auto res = results_of(o.out);
  ASSERT_EQ(res.size(), 27U);
  for (std::size_t i = 0; i < res.size(); ++i) EXPECT_EQ(res[i]["line"], i + 1) << res[i];
  EXPECT_EQ(res[6]["state"], "rejected");
}

TEST_P(CliModeTest, KeepOrderWithSmallWindow_StillCompletes) {
  temp_dir d;
  std::string input = task_line("slow", "sleep", 300);
  for (int i = 0; i < 10000; ++i) input += task_line("e" + std::to_string(i), "echo", i);
  auto o = run_procpool(d, args({"--keep-order", "--max-queue", "4"}), input);
  EXPECT_EQ(o.exit_code, 0) << o.err;
  const auto res = results_of(o.out);
  ASSERT_EQ(res.size(), 10001U);
  for (std::size_t i = 0; i < res.size(); ++i) ASSERT_EQ(res[i]["line"], i + 1);
}

TEST_P(CliModeTest, OutputFile_AndCompletionOrderByDefault) {
  temp_dir d;
  const std::string input = lines({{"slow", "sleep", 400}, {"fast", "echo", 1}});
  auto o = run_procpool(d, args({"-o", "out.jsonl"}), input);
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(o.out, "");
  const auto res = results_of(read_file(d.file("out.jsonl")));
  ASSERT_EQ(res.size(), 2U);
  EXPECT_EQ(res[0]["tag"], "fast");  // finished first, written first
  EXPECT_EQ(res[1]["tag"], "slow");
}

TEST_P(CliModeTest, Joblog_HasGnuParallelColumns) {
  temp_dir d;
  const std::string input = lines({{"a", "echo", "xyz"}, {"b", "sha256", "nope"}}) + "bad\n";
  auto o = run_procpool(d, args({"--joblog", "jobs.log"}), input);
  EXPECT_EQ(o.exit_code, 1);
  const auto rows = lines_of(read_file(d.file("jobs.log")));
  ASSERT_EQ(rows.size(), 3U);  // header + two jobs (a rejected line never ran)
  EXPECT_EQ(rows[0], "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand");
  std::map<std::string, std::vector<std::string>> by_seq;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    std::vector<std::string> cols;
    std::size_t start = 0;
    for (;;) {
      const std::size_t tab = rows[i].find('\t', start);
      cols.push_back(
          rows[i].substr(start, tab == std::string::npos ? std::string::npos : tab - start));
      if (tab == std::string::npos) break;
      start = tab + 1;
    }
    ASSERT_EQ(cols.size(), 9U) << rows[i];
    by_seq[cols[0]] = cols;
  }
  ASSERT_TRUE(by_seq.count("1") && by_seq.count("2"));
  const auto& a = by_seq["1"];
  EXPECT_EQ(a[1], ":");
  EXPECT_GT(std::stod(a[2]), 1.6e9);  // seconds since the epoch
  EXPECT_GE(std::stod(a[3]), 0.0);
  EXPECT_EQ(a[4], "0");
  EXPECT_EQ(a[5], "5");  // "xyz" as JSON
  EXPECT_EQ(a[6], "0");
  EXPECT_EQ(a[7], "0");
  EXPECT_EQ(a[8], "echo \"xyz\"");
  EXPECT_EQ(by_seq["2"][6], "1");  // failed
}

// ---- time limits and retries (the library's task_options)
// ---------------------------------------------

TEST_P(CliModeTest, Timeout_EndsTimedOutAndTheRunGoesOn) {
  temp_dir d;
  const std::string input =
      std::string(R"({"tag":"slow","task":"sleep","args":30000,"timeout":0.3})") + "\n" +
      task_line("fast", "echo", 1);
  const auto t0 = std::chrono::steady_clock::now();
  auto o = run_procpool(d, args({}), input, 60s);
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(o.exit_code, 1) << o.err;
  const auto res = by_tag(results_of(o.out));
  ASSERT_EQ(res.size(), 2U) << o.out;
  EXPECT_EQ(res.at("slow")["state"], "timed_out") << res.at("slow");
  EXPECT_EQ(res.at("fast")["state"], "done");
  EXPECT_LT(took, scaled(20s));
}

TEST_P(CliModeTest, GlobalTimeout_AppliesToEveryLine) {
  temp_dir d;
  auto o = run_procpool(d, args({"--timeout", "0.2"}),
                        lines({{"slow", "sleep", 30000}, {"ok", "sleep", 1}}));
  EXPECT_EQ(o.exit_code, 1);
  const auto res = by_tag(results_of(o.out));
  EXPECT_EQ(res.at("slow")["state"], "timed_out");
  EXPECT_EQ(res.at("ok")["state"], "done");
}

TEST_P(CliModeTest, Retries_CountAttempts) {
  temp_dir d;
  const std::string input =
      std::string(R"({"tag":"r","task":"sha256","args":"missing","retries":2})") + "\n";
  auto o = run_procpool(d, args({}), input);
  EXPECT_EQ(o.exit_code, 1);
  const auto res = by_tag(results_of(o.out));
  ASSERT_EQ(res.size(), 1U);
  EXPECT_EQ(res.at("r")["state"], "failed");
  EXPECT_EQ(res.at("r")["attempts"], 3) << res.at("r");
  ASSERT_TRUE(res.at("r").contains("attempt_errors")) << res.at("r");
  EXPECT_EQ(res.at("r")["attempt_errors"].size(), 2U);
}

// ---- signals
// --------------------------------------------------------------------------------------------
// (How a run stops, --halt and write-through: cli_stop_test.cpp.)

// --resume after an interrupted run: no tag runs twice, none is missed.
TEST_P(CliModeTest, ResumeAfterInterrupt_RunsEveryTagExactlyOnce) {
  temp_dir d;
  const int n = 40;
  std::string input;
  for (int i = 0; i < n; ++i) input += task_line("t" + std::to_string(i), "sleep", 50);
  input += "not json\n";
  const std::string in_path = d.write("tasks.jsonl", input);

  // Run 1, interrupted after its first result.
  {
    child::options co;
    co.stdin_file = in_path;
    co.cwd = d.path();
    child c(args({"--max-queue", "1", "-o", "out.jsonl", "-"}), co);
    // The output file is written in the background: wait for the run to start
    // by watching stderr for nothing but the file for its first line.
    const auto deadline = std::chrono::steady_clock::now() + scaled(30s);
    while (read_file(d.file("out.jsonl")).find('\n') == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      (void)c.wait_err_contains("\n", 50ms);  // polls stderr; no ordering by sleep
    }
    c.signal(SIGINT);
    auto o = c.wait(60s);
    ASSERT_TRUE(o.finished);
    EXPECT_TRUE(o.exit_code == 130 || o.exit_code == 1) << o.exit_code << o.err;
  }
  const auto first = results_of(read_file(d.file("out.jsonl")));
  std::set<std::string> done_first;
  for (const json& r : first) {
    if (r["state"] == "done") done_first.insert(r["tag"].get<std::string>());
  }
  ASSERT_LT(done_first.size(), static_cast<std::size_t>(n)) << "the run was not interrupted";

  // A run killed mid-write leaves half a line: resume must cope.
  {
    std::ofstream f(d.file("out.jsonl"), std::ios::app | std::ios::binary);
    f << "{\"tag\":\"t0\",\"state\":\"do";
  }
  auto o = run_procpool(d, args({"-o", "out.jsonl", "--resume", "tasks.jsonl"}), "");
  EXPECT_EQ(o.exit_code, 1) << o.err;  // the bad line
  EXPECT_NE(o.err.find(std::to_string(done_first.size()) + " skipped"), std::string::npos) << o.err;

  const auto all = results_of(read_file(d.file("out.jsonl")));  // every line parses
  std::map<std::string, int> done_count;
  for (const json& r : all) {
    if (r["state"] == "done") ++done_count[r["tag"].get<std::string>()];
  }
  ASSERT_EQ(done_count.size(), static_cast<std::size_t>(n));
  for (const auto& [tag, count] : done_count) EXPECT_EQ(count, 1) << tag << " ran twice";
}

// ---- a closed stdout
// -------------------------------------------------------------------------------------

TEST_P(CliModeTest, ClosedStdout_EndsTheRunCleanly) {
  temp_dir d;
  std::string input;
  for (int i = 0; i < 3000; ++i) input += task_line("t" + std::to_string(i), "sleep", 5);
  child::options co;
  co.stdin_file = d.write("in.jsonl", input);
  co.cwd = d.path();
  child c(args({}), co);
  ASSERT_TRUE(c.next_out_line(30s).has_value());  // `| head -1`
  c.close_stdout();
  const auto t0 = std::chrono::steady_clock::now();
  auto o = c.wait(60s);
  ASSERT_TRUE(o.finished);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, scaled(10s));  // not 3000 x 5 ms / 2
  EXPECT_EQ(o.signal, 0);
  EXPECT_EQ(o.exit_code, 141) << o.err;
}

// ---- workers
// ----------------------------------------------------------------------------------------------

TEST(CliWorkersTest, MaxTasksPerWorker_ReplacesProcessWorkers) {
  temp_dir d;
  std::string input;
  for (int i = 0; i < 12; ++i) input += task_line("t" + std::to_string(i), "echo", i);
  auto o = run_procpool(d, {"run", "--mode", "process", "-j", "2", "--max-tasks-per-worker", "1"},
                        input);
  EXPECT_EQ(o.exit_code, 0) << o.err;
  std::set<int> pids;
  for (const json& r : results_of(o.out)) pids.insert(r["worker_pid"].get<int>());
  EXPECT_EQ(pids.size(), 12U);  // one worker process per task
}

TEST(CliWorkersTest, WorkersEnvironment_IsClampedOrIgnored) {
  temp_dir d;
  auto help_default = [&](const std::string& env) {
    child::options co;
    co.cwd = d.path();
    co.env = {env};
    child c({"run", "--help"}, co);
    auto o = c.wait(30s);
    const std::string label = "--jobs N=";  // -j,-P,--workers,--jobs N=<default>
    const auto at = o.out.find(label);
    EXPECT_NE(at, std::string::npos) << o.out;
    return std::make_pair(std::stoi(o.out.substr(at + label.size())), o.err);
  };
  EXPECT_EQ(help_default("PROCPOOL_WORKERS=3").first, 3);
  EXPECT_EQ(help_default("PROCPOOL_WORKERS=0").first, 1);
  EXPECT_EQ(help_default("PROCPOOL_WORKERS=999999").first, 4096);
  const auto [n, err] = help_default("PROCPOOL_WORKERS=lots");
  EXPECT_GE(n, 1);
  EXPECT_NE(err.find("ignoring PROCPOOL_WORKERS"), std::string::npos) << err;
}

// ---- thread vs process
// ----------------------------------------------------------------------------------

TEST(CliModesTest, ThreadAndProcessMode_GiveTheSameResults) {
  temp_dir d;
  d.write("f.txt", "hello\n");
  std::string input;
  for (int i = 0; i < 200; ++i) {
    if (i % 20 == 19) {  // exec: done, failed with an exit code, killed by a signal
      const json argv = i % 60 == 19   ? json::array({"printf", "%s-%s", "a b", std::to_string(i)})
                        : i % 60 == 39 ? json::array({"sh", "-c", "exit 7"})
                                       : json::array({"sh", "-c", "kill -USR1 $$"});
      input += task_line("x" + std::to_string(i), "exec", argv);
      continue;
    }
    switch (i % 5) {
      case 0:
        input += task_line("e" + std::to_string(i), "echo", json{{"i", i}, {"s", "x"}});
        break;
      case 1:
        input += task_line("p" + std::to_string(i), "primes", i * 37);
        break;
      case 2:
        input += task_line("h" + std::to_string(i), "sha256", i % 2 == 0 ? "f.txt" : "missing");
        break;
      case 3:
        input += task_line("z" + std::to_string(i), "sleep", i % 3);
        break;
      default:
        input += "{\"tag\":\"b" + std::to_string(i) + "\",\"task\":\"primes\",\"args\":\"x\"}\n";
        break;
    }
  }
  auto normalise = [](const std::string& out) {
    std::map<std::int64_t, json> m;
    for (const auto& [line, r] : by_line(results_of(out))) {
      json s = stable(r);
      if (s.contains("error")) s["error"].erase("message");  // messages may name a pid
      m[line] = s;
    }
    return m;
  };
  auto t = run_procpool(d, {"run", "--mode", "thread", "-j", "2", "--no-progress"}, input);
  auto p = run_procpool(d, {"run", "--mode", "process", "-j", "2", "--no-progress"}, input);
  EXPECT_EQ(t.exit_code, 1);
  EXPECT_EQ(p.exit_code, 1);
  const auto tm = normalise(t.out);
  const auto pm = normalise(p.out);
  ASSERT_EQ(tm.size(), 200U);
  EXPECT_EQ(tm, pm);
  EXPECT_EQ(tm.at(20)["value"]["stdout"], "a b-19");
  EXPECT_EQ(tm.at(40)["exit_code"], 7);
  EXPECT_EQ(tm.at(60)["signal"], SIGUSR1);
}

INSTANTIATE_TEST_SUITE_P(Modes, CliModeTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& i) {
                           return i.param ? std::string("Process") : std::string("Thread");
                         });

// ---- exec
// ----------------------------------------------------------------------------------------------------

class CliExecTest : public CliModeTest {};

TEST_P(CliExecTest, Exec_CapturesExitCodeStdoutStderr) {
  temp_dir d;
  const std::string input =
      lines({{"ok", "exec", json::array({"sh", "-c", "printf 'out'; printf 'err' >&2"})},
             {"fail", "exec", json::array({"sh", "-c", "echo bad >&2; exit 3"})},
             {"sig", "exec", json::array({"sh", "-c", "kill -TERM $$"})},
             {"nf", "exec", json::array({"no-such-program-xyz"})},
             {"one", "exec", "true"}});
  auto o = run_procpool(d, args({}), input);
  EXPECT_EQ(o.exit_code, 1);
  const auto res = by_tag(results_of(o.out));
  ASSERT_EQ(res.size(), 5U);
  const json& ok = res.at("ok");
  EXPECT_EQ(ok["state"], "done");
  EXPECT_EQ(ok["value"],
            (json{{"exit_code", 0}, {"stdout", "out"}, {"stderr", "err"}, {"truncated", false}}));
  EXPECT_EQ(ok["exit_code"], 0);
  const json& fail = res.at("fail");
  EXPECT_EQ(fail["state"], "failed");
  EXPECT_EQ(fail["exit_code"], 3);
  EXPECT_NE(fail["error"]["message"].get<std::string>().find("bad"), std::string::npos) << fail;
  EXPECT_EQ(res.at("sig")["state"], "failed");
  EXPECT_EQ(res.at("sig")["signal"], 15);
  EXPECT_EQ(res.at("nf")["state"], "failed");
  EXPECT_NE(res.at("nf")["error"]["message"].get<std::string>().find("not found"),
            std::string::npos);
  EXPECT_EQ(res.at("one")["state"], "done");  // a single string is argv[0]
}

TEST_P(CliExecTest, Exec_TruncatesBigOutputAndNeverBlocks) {
  temp_dir d;
  const std::string input =
      lines({{"big", "exec", json::array({"head", "-c", "5000000", "/dev/zero"})}});
  auto o = run_procpool(d, args({}), input);
  EXPECT_EQ(o.exit_code, 1) << o.err;  // cut output fails the run (see cli_exec_output_test)
  const auto res = by_tag(results_of(o.out));
  EXPECT_EQ(res.at("big")["value"]["truncated"], true);
  EXPECT_EQ(res.at("big")["value"]["stdout"].get<std::string>().size(), 1048576U);
}

TEST_P(CliExecTest, Exec_NoShellInterpolation) {
  temp_dir d;
  const std::vector<std::string> nasty = {"; touch marker1",
                                          "$(touch marker2)",
                                          "`touch marker3`",
                                          "*",
                                          "-n",
                                          "--help",
                                          "a b  c",
                                          "'quoted'",
                                          "\"dq\"",
                                          "$HOME",
                                          "|cat",
                                          "&& touch marker4",
                                          "\\",
                                          "\n",
                                          "~",
                                          "> marker5"};
  std::string input;
  for (std::size_t i = 0; i < nasty.size(); ++i) {
    input += task_line("n" + std::to_string(i), "exec", json::array({"printf", "%s", nasty[i]}));
  }
  d.write("somefile", "");  // so that a glob '*' would have something to expand to
  auto o = run_procpool(d, args({}), input);
  EXPECT_EQ(o.exit_code, 0) << o.err << o.out;
  const auto res = by_tag(results_of(o.out));
  ASSERT_EQ(res.size(), nasty.size());
  for (std::size_t i = 0; i < nasty.size(); ++i) {
    const json& r = res.at("n" + std::to_string(i));
    EXPECT_EQ(r["state"], "done") << r;
    EXPECT_EQ(r["value"]["stdout"], nasty[i]) << "argument arrived changed";
  }
  for (int m = 1; m <= 5; ++m) {
    EXPECT_FALSE(file_exists(d.file("marker" + std::to_string(m)))) << "marker" << m;
  }
}

TEST_P(CliExecTest, Exec_StdinIsDevNull) {
  temp_dir d;
  auto o = run_procpool(d, args({}), lines({{"c", "exec", json::array({"cat"})}}));
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(by_tag(results_of(o.out)).at("c")["value"]["stdout"], "");
}

// A command past its time limit dies with its process group, children included.
TEST_P(CliExecTest, ExecTimeout_KillsTheCommandAndItsChildren) {
  temp_dir d;
  const std::string script = "sleep 300 & echo $! > child.pid; echo $$ > parent.pid; wait";
  const std::string input = json{{"tag", "t"},
                                 {"task", "exec"},
                                 {"args", json::array({"sh", "-c", script})},
                                 {"timeout", 0.5}}
                                .dump() +
                            "\n";
  auto o = run_procpool(d, args({}), input, 60s);
  EXPECT_EQ(o.exit_code, 1) << o.err;
  const auto res = by_tag(results_of(o.out));
  ASSERT_EQ(res.size(), 1U) << o.out;
  EXPECT_EQ(res.at("t")["state"], "timed_out") << res.at("t");
  for (const char* f : {"child.pid", "parent.pid"}) {
    const std::string text = read_file(d.file(f));
    ASSERT_FALSE(text.empty()) << f;
    const pid_t pid = std::stoi(text);
    const auto deadline = std::chrono::steady_clock::now() + scaled(10s);
    bool gone = false;
    while (!gone && std::chrono::steady_clock::now() < deadline) {
      // Dead, or a zombie waiting for init: either way not running.
      const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
      gone = stat.empty() || stat.find(") Z") != std::string::npos;
      if (!gone) std::this_thread::yield();
    }
    EXPECT_TRUE(gone) << f << " " << pid << " still runs";
  }
}

TEST_P(CliExecTest, ExecTerminate_KillsRunningCommands) {
  temp_dir d;
  child::options co;
  co.stdin_pipe = true;
  co.cwd = d.path();
  child c(args({}), co);
  c.write_stdin(
      task_line("first", "echo", 0) +
      task_line("long", "exec", json::array({"sh", "-c", "echo $$ > long.pid; exec sleep 300"})));
  ASSERT_TRUE(c.next_out_line(30s).has_value());
  const auto deadline = std::chrono::steady_clock::now() + scaled(30s);
  while (read_file(d.file("long.pid")).empty() && std::chrono::steady_clock::now() < deadline) {
    (void)c.wait_err_contains("never printed", 20ms);
  }
  const std::string pid_text = read_file(d.file("long.pid"));
  ASSERT_FALSE(pid_text.empty());
  c.signal(SIGINT);
  ASSERT_TRUE(c.wait_err_contains("again terminates", 30s));
  c.signal(SIGINT);
  auto o = c.wait(60s);
  EXPECT_EQ(o.exit_code, 130);
  EXPECT_EQ(by_tag(results_of(o.out)).at("long")["state"], "cancelled") << o.out;
  const pid_t pid = std::stoi(pid_text);
  const auto gone_by = std::chrono::steady_clock::now() + scaled(10s);
  bool gone = false;
  while (!gone && std::chrono::steady_clock::now() < gone_by) {
    const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    gone = stat.empty() || stat.find(") Z") != std::string::npos;
    if (!gone) std::this_thread::yield();
  }
  EXPECT_TRUE(gone) << "the exec'd command outlived terminate";
}

TEST_P(CliExecTest, ExecJoblog_RecordsExitvalAndSignal) {
  temp_dir d;
  const std::string input = lines({{"a", "exec", json::array({"sh", "-c", "exit 4"})},
                                   {"b", "exec", json::array({"sh", "-c", "kill -KILL $$"})},
                                   {"c", "exec", json::array({"printf", "%s", "hello world"})}});
  auto o = run_procpool(d, args({"--joblog", "j.log", "--keep-order"}), input);
  EXPECT_EQ(o.exit_code, 1);
  const auto rows = lines_of(read_file(d.file("j.log")));
  ASSERT_EQ(rows.size(), 4U);
  std::map<std::string, std::string> by_seq;
  for (std::size_t i = 1; i < rows.size(); ++i)
    by_seq[rows[i].substr(0, rows[i].find('\t'))] = rows[i];
  auto col = [&](const std::string& seq, int k) {
    std::string row = by_seq.at(seq);
    for (int i = 0; i < k; ++i) row = row.substr(row.find('\t') + 1);
    return row.substr(0, row.find('\t'));
  };
  EXPECT_EQ(col("1", 6), "4");
  EXPECT_EQ(col("1", 7), "0");
  EXPECT_EQ(col("2", 7), "9");
  EXPECT_EQ(col("3", 5), "11");  // bytes of stdout
  EXPECT_EQ(col("3", 6), "0");
  EXPECT_EQ(col("3", 8), "printf %s 'hello world'");
}

INSTANTIATE_TEST_SUITE_P(Modes, CliExecTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& i) {
                           return i.param ? std::string("Process") : std::string("Thread");
                         });

}  // namespace
