// End-to-end tests of how `procpool run` stops: the first SIGINT/SIGTERM and
// --halt soon cancel the queued lines at once and wait for the running ones;
// the second signal and --halt now stop the running ones too; result lines
// are written through, so a SIGKILL of the command loses only running tasks.
//
// Naming: cases that run process mode or start programs with `exec` carry
// "Process" or "Exec" in their names (ctest labels them notsan).
#include <cstdio>
#include <set>

#include "cli_test_util.hpp"

namespace {

using namespace procpool_cli_test;

class CliStopTest : public ::testing::TestWithParam<bool> {
 protected:
  [[nodiscard]] std::vector<std::string> args(std::initializer_list<std::string> more) const {
    std::vector<std::string> a = {"run",  "--mode",        GetParam() ? "process" : "thread",
                                  "-j",   "2",             "--no-progress"};
    a.insert(a.end(), more.begin(), more.end());
    return a;
  }
};

/// `n` lines "s0".."s<n-1>" of `sleep ms`.
std::string sleeps(int n, int ms, const std::string& prefix = "s") {
  std::string s;
  for (int i = 0; i < n; ++i) s += task_line(prefix + std::to_string(i), "sleep", ms);
  return s;
}

/// Checks the lines of a stopped run: lines 1..k each have one result (no gap),
/// each done or cancelled; a cancelled one never started. Returns the number
/// cancelled.
std::size_t check_stopped(const std::map<std::int64_t, json>& m, const std::string& failing = {}) {
  EXPECT_FALSE(m.empty());
  if (m.empty()) return 0;
  EXPECT_EQ(m.begin()->first, 1);
  EXPECT_EQ(m.rbegin()->first, static_cast<std::int64_t>(m.size()));
  std::size_t cancelled = 0;
  for (const auto& [line, r] : m) {
    if (!failing.empty() && r["tag"] == failing) continue;
    if (r["state"] == "cancelled") {
      ++cancelled;
      EXPECT_EQ(r["attempts"], 0) << r;
      EXPECT_FALSE(r.contains("started_at")) << r;
    } else {
      EXPECT_EQ(r["state"], "done") << r;
    }
  }
  return cancelled;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// ---- signals ---------------------------------------------------------------------------------

// 3000 sleeps of 50 ms with the default --max-queue (1024): running what is
// queued would take about 25 s on two workers. The first SIGINT cancels it.
TEST_P(CliStopTest, Sigint_CancelsTheQueueAndExitsPromptly) {
  temp_dir d;
  child::options co;
  co.stdin_file = d.write("in.jsonl", sleeps(3000, 50));
  co.cwd = d.path();
  child c(args({}), co);
  const auto first = c.next_out_line(30s);  // the run has started
  ASSERT_TRUE(first.has_value());
  const auto t0 = std::chrono::steady_clock::now();
  c.signal(SIGINT);
  auto o = c.wait(60s);
  const double took = seconds_since(t0);
  std::printf("SIGINT to exit: %.3f s\n", took);
  ASSERT_TRUE(o.finished);
  EXPECT_LT(took, std::chrono::duration<double>(scaled(5s)).count());
  EXPECT_EQ(o.exit_code, 130) << o.err;
  std::vector<json> res = results_of(o.out);
  res.push_back(json::parse(*first));
  const auto m = by_line(res);
  EXPECT_GT(check_stopped(m), 500U);  // the queue, not a line or two
  EXPECT_NE(o.err.find("queued tasks cancelled"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("interrupted (SIGINT)"), std::string::npos) << o.err;
}

// The first SIGINT lets the running tasks finish; the second stops them. The
// two long commands leave a file when they start, so the test knows they run
// (and that the lines before them were read) before it signals.
TEST_P(CliStopTest, ExecSecondSigint_StopsTheRunningTasks) {
  temp_dir d;
  child::options co;
  co.stdin_pipe = true;
  co.cwd = d.path();
  child c(args({}), co);
  auto long_line = [](const std::string& tag) {
    return task_line(tag, "exec",
                     json::array({"sh", "-c", "touch " + tag + ".started; exec sleep 120"}));
  };
  c.write_stdin(long_line("long1") + long_line("long2") + sleeps(20, 120000, "q"));
  const auto deadline = std::chrono::steady_clock::now() + scaled(30s);
  while (!(file_exists(d.file("long1.started")) && file_exists(d.file("long2.started"))) &&
         std::chrono::steady_clock::now() < deadline) {
    (void)c.wait_err_contains("never printed", 2ms);  // polls; no ordering by sleep
  }
  c.signal(SIGINT);
  ASSERT_TRUE(c.wait_err_contains("again terminates", 30s));
  const auto t0 = std::chrono::steady_clock::now();
  c.signal(SIGINT);
  auto o = c.wait(60s);
  std::printf("second SIGINT to exit: %.3f s\n", seconds_since(t0));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, scaled(20s));
  EXPECT_EQ(o.exit_code, 130);
  const auto res = by_line(results_of(o.out));
  ASSERT_GE(res.size(), 2U) << o.out << o.err;
  EXPECT_EQ(res.rbegin()->first, static_cast<std::int64_t>(res.size()));  // no gap
  for (const auto& [line, r] : res) {
    EXPECT_EQ(r["state"], "cancelled") << r;
    EXPECT_EQ(r["attempts"], line <= 2 ? 1 : 0) << r;  // the two long ones were running
  }
}

TEST_P(CliStopTest, Sigterm_StopsLikeSigint) {
  temp_dir d;
  child::options co;
  co.stdin_pipe = true;
  co.cwd = d.path();
  child c(args({}), co);
  c.write_stdin(task_line("first", "echo", 0) + task_line("short", "sleep", 50));
  ASSERT_TRUE(c.next_out_line(30s).has_value());
  c.signal(SIGTERM);
  auto o = c.wait(60s);
  EXPECT_EQ(o.exit_code, 143);
}

// ---- --halt ----------------------------------------------------------------------------------

// The failing line times out after 100 ms: by then the queue (100) is full, so
// stopping must cancel it rather than run it.
TEST_P(CliStopTest, HaltSoon_CancelsTheQueueAfterTheFirstFailure) {
  temp_dir d;
  const std::string input =
      R"({"tag":"bad","task":"sleep","args":60000,"timeout":0.1})" "\n" + sleeps(500, 20);
  const auto t0 = std::chrono::steady_clock::now();
  auto o = run_procpool(d, args({"--halt", "soon,fail=1", "--max-queue", "100"}), input);
  std::printf("--halt soon,fail=1 run: %.3f s\n", seconds_since(t0));
  EXPECT_EQ(o.exit_code, 3) << o.err;
  const auto m = by_line(results_of(o.out));
  ASSERT_FALSE(m.empty());
  EXPECT_EQ(m.at(1)["state"], "timed_out");
  EXPECT_LT(m.size(), 501U);  // reading stopped
  EXPECT_GE(check_stopped(m, "bad"), 50U);
  EXPECT_NE(o.err.find("--halt soon"), std::string::npos) << o.err;
}

// --halt-on-error is --halt soon,fail=1.
TEST_P(CliStopTest, HaltOnError_IsHaltSoonFailOne) {
  temp_dir d;
  const std::string input = task_line("bad", "sha256", "missing") + sleeps(300, 20);
  auto o = run_procpool(d, args({"--halt-on-error", "--max-queue", "2"}), input);
  EXPECT_EQ(o.exit_code, 3) << o.err;
  const auto m = by_line(results_of(o.out));
  EXPECT_LT(m.size(), 100U);
  EXPECT_EQ(m.at(1)["state"], "failed");
  (void)check_stopped(m, "bad");
}

TEST_P(CliStopTest, HaltNow_TerminatesTheRunningTasks) {
  for (const std::string opt : {"--halt=now,fail=1", "--halt-on-error=now"}) {
    temp_dir d;
    std::string input = task_line("long0", "sleep", 60000) + task_line("long1", "sleep", 60000);
    input += task_line("bad", "sha256", "missing");
    const auto t0 = std::chrono::steady_clock::now();
    auto o = run_procpool(d, args({opt, "-j", "3"}), input, 60s);
    std::printf("%s run: %.3f s\n", opt.c_str(), seconds_since(t0));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, scaled(30s));
    EXPECT_EQ(o.exit_code, 4) << opt << o.err;
    const auto res = by_tag(results_of(o.out));
    ASSERT_EQ(res.size(), 3U) << o.out;
    EXPECT_EQ(res.at("bad")["state"], "failed");
    EXPECT_EQ(res.at("long0")["state"], "cancelled");
    EXPECT_EQ(res.at("long1")["state"], "cancelled");
  }
}

// One worker ends lines in input order: 4 done, then 4 failed, then 50 done.
// fail=50% stops at the 8th line (4 of 8); fail=60% never does (4 of 8, then
// less); fail=3 stops at the 7th.
TEST_P(CliStopTest, HaltFailPercentAndCount) {
  std::string input;
  for (int i = 0; i < 4; ++i) input += task_line("ok" + std::to_string(i), "echo", i);
  for (int i = 0; i < 4; ++i) input += task_line("bad" + std::to_string(i), "sha256", "missing");
  input += sleeps(50, 5);
  {
    temp_dir d;
    auto o = run_procpool(d, args({"-j", "1", "--halt", "soon,fail=50%"}), input);
    EXPECT_EQ(o.exit_code, 3) << o.err;
    EXPECT_NE(o.err.find("line 8 (tag 'bad3')"), std::string::npos) << o.err;
    EXPECT_NE(o.err.find("4 of 8 ended lines failed"), std::string::npos) << o.err;
  }
  {
    temp_dir d;
    auto o = run_procpool(d, args({"-j", "1", "--halt", "now,fail=60%"}), input);
    EXPECT_EQ(o.exit_code, 1) << o.err;
    EXPECT_EQ(results_of(o.out).size(), 58U);
  }
  {
    temp_dir d;
    auto o = run_procpool(d, args({"-j", "1", "--halt", "soon,fail=3"}), input);
    EXPECT_EQ(o.exit_code, 3) << o.err;
    EXPECT_NE(o.err.find("line 7 (tag 'bad2')"), std::string::npos) << o.err;
  }
}

TEST(CliHaltUsageTest, BadHaltValues_ExitTwo) {
  temp_dir d;
  for (const std::string v : {"later", "soon,fail=0", "now,fail=101%", "soon,fail=0%",
                              "soon,fail=x", "now,success=1", "soon,fail=-1", ""}) {
    auto o = run_procpool(d, {"run", "--halt", v}, "");
    EXPECT_EQ(o.exit_code, 2) << v << o.err;
  }
  auto o = run_procpool(d, {"run", "--halt", "now,fail=1", "--halt-on-error"}, "");
  EXPECT_EQ(o.exit_code, 2) << o.err;
  o = run_procpool(d, {"run", "--mode", "thread", "--halt", "never"},
                   task_line("bad", "sha256", "missing"));
  EXPECT_EQ(o.exit_code, 1) << o.err;
}

// ---- write-through ---------------------------------------------------------------------------

// Each command appends to a file of its tag, so a second run shows which tags
// ran twice. After a SIGKILL of the command, --resume reruns exactly the tags
// with no result line in the output: every tag runs at least once, and a tag
// whose line was written never runs again. How many ran twice (running, or
// finished but not yet written when the kill came) depends on timing, so it
// is printed, not bounded.
TEST_P(CliStopTest, ExecSigkill_ThenResumeRerunsOnlyTheRunning) {
  temp_dir d;
  const int n = 400;
  std::string input;
  for (int i = 0; i < n; ++i) {
    const std::string tag = "t" + std::to_string(i);
    input += task_line(tag, "exec", json::array({"sh", "-c", "echo run >> ran." + tag}));
  }
  const std::string in_path = d.write("tasks.jsonl", input);
  {
    child::options co;
    co.stdin_file = in_path;
    co.cwd = d.path();
    child c(args({"-o", "out.jsonl", "-"}), co);
    const auto deadline = std::chrono::steady_clock::now() + scaled(30s);
    while (lines_of(read_file(d.file("out.jsonl"))).size() < 50 &&
           std::chrono::steady_clock::now() < deadline) {
      (void)c.wait_err_contains("never printed", 2ms);  // polls; no ordering by sleep
    }
    c.signal(SIGKILL);
    (void)c.wait(30s);
  }
  const std::vector<std::string> first_lines = lines_of(read_file(d.file("out.jsonl")));
  const std::size_t first_run = first_lines.size();
  ASSERT_GE(first_run, 50U);
  ASSERT_LT(first_run, static_cast<std::size_t>(n)) << "the run ended before the kill";
  std::set<std::string> written;
  for (const std::string& l : first_lines) {
    const json j = json::parse(l, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("tag") && j["tag"].is_string()) written.insert(j["tag"].get<std::string>());
  }
  auto o = run_procpool(d, args({"-o", "out.jsonl", "--resume", "tasks.jsonl"}), "");
  EXPECT_EQ(o.exit_code, 0) << o.err;
  int twice = 0;
  for (int i = 0; i < n; ++i) {
    const std::string tag = "t" + std::to_string(i);
    const auto runs = lines_of(read_file(d.file("ran." + tag))).size();
    EXPECT_GE(runs, 1U) << tag;
    if (written.count(tag) != 0) {
      EXPECT_EQ(runs, 1U) << tag << " had its result line and ran again";
    }
    if (runs > 1) ++twice;
  }
  std::printf("first run wrote %zu lines; %d tags ran twice\n", first_run, twice);
}

INSTANTIATE_TEST_SUITE_P(Modes, CliStopTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& i) {
                           return i.param ? std::string("Process") : std::string("Thread");
                         });

}  // namespace
