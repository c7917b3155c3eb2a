// End-to-end tests of what `exec` keeps of a command's output: --max-output
// bytes of each stream, a "truncated" mark that the summary lists and that
// fails the run unless --allow-truncation, and a failed command's output kept
// in its result.
//
// Every case starts programs, so every name carries "Exec" (ctest: notsan).
#include "cli_test_util.hpp"

namespace {

using namespace procpool_cli_test;

class CliExecOutputTest : public ::testing::TestWithParam<bool> {
 protected:
  [[nodiscard]] std::vector<std::string> args(std::initializer_list<std::string> more) const {
    std::vector<std::string> a = {"run", "--mode", GetParam() ? "process" : "thread",
                                  "-j",  "2",      "--no-progress"};
    a.insert(a.end(), more.begin(), more.end());
    return a;
  }
};

/// An exec line whose command prints `n` bytes `c` on stdout.
std::string printing(const std::string& tag, int n, const std::string& c) {
  return task_line(tag, "exec",
                   json::array({"sh", "-c",
                                "head -c " + std::to_string(n) + " /dev/zero | tr '\\0' '" + c +
                                    "'"}));
}

TEST_P(CliExecOutputTest, ExecOutputCut_IsMarkedListedAndFailsTheRun) {
  temp_dir d;
  const std::string input = printing("big", 200000, "a") + printing("small", 10, "b");
  auto o = run_procpool(d, args({"--max-output", "65536"}), input);
  EXPECT_EQ(o.exit_code, 1) << o.err;
  const auto res = by_tag(results_of(o.out));
  const json& big = res.at("big");
  EXPECT_EQ(big["state"], "done");
  EXPECT_EQ(big["truncated"], true) << big;
  EXPECT_EQ(big["value"]["truncated"], true);
  EXPECT_EQ(big["value"]["stdout"], std::string(65536, 'a'));
  EXPECT_FALSE(res.at("small").contains("truncated"));
  EXPECT_NE(o.err.find("1 with output truncated"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("cut at --max-output 65536 bytes: 'big'"), std::string::npos) << o.err;

  auto allowed = run_procpool(d, args({"--max-output", "65536", "--allow-truncation"}), input);
  EXPECT_EQ(allowed.exit_code, 0) << allowed.err;
  EXPECT_EQ(by_tag(results_of(allowed.out)).at("big")["truncated"], true);
}

// 1 MiB of each stream by default: a megabyte of stdout arrives whole.
TEST_P(CliExecOutputTest, ExecDefaultMaxOutput_KeepsAMegabyte) {
  temp_dir d;
  auto o = run_procpool(d, args({}), printing("mb", 1000000, "x"));
  EXPECT_EQ(o.exit_code, 0) << o.err;
  const json r = by_tag(results_of(o.out)).at("mb");
  EXPECT_EQ(r["value"]["stdout"].get<std::string>().size(), 1000000U);
  EXPECT_EQ(r["value"]["truncated"], false);
}

TEST_P(CliExecOutputTest, ExecFailedCommand_KeepsItsOutput) {
  temp_dir d;
  const std::string input =
      task_line("f", "exec", json::array({"sh", "-c", "echo out; echo err >&2; exit 3"})) +
      task_line("fbig", "exec",
                json::array({"sh", "-c", "head -c 5000 /dev/zero | tr '\\0' z; exit 4"}));
  auto o = run_procpool(d, args({"--max-output", "1000"}), input);
  EXPECT_EQ(o.exit_code, 1) << o.err;
  const auto res = by_tag(results_of(o.out));
  const json& f = res.at("f");
  EXPECT_EQ(f["state"], "failed");
  EXPECT_EQ(f["exit_code"], 3);
  EXPECT_EQ(f["value"]["stdout"], "out\n") << f;
  EXPECT_EQ(f["value"]["stderr"], "err\n") << f;
  EXPECT_FALSE(f.contains("truncated"));
  const json& fbig = res.at("fbig");
  EXPECT_EQ(fbig["state"], "failed");
  EXPECT_EQ(fbig["exit_code"], 4);
  EXPECT_EQ(fbig["value"]["stdout"], std::string(1000, 'z'));
  EXPECT_EQ(fbig["truncated"], true);
  EXPECT_NE(o.err.find("'fbig'"), std::string::npos) << o.err;
}

// --max-output counts the bytes the command wrote; the result line shows each
// invalid one as U+FFFD (3 bytes), so a kept stream may be longer as text.
TEST_P(CliExecOutputTest, ExecInvalidUtf8_LimitCountsBytesWritten) {
  temp_dir d;
  auto o = run_procpool(d, args({"--max-output", "50"}), printing("bin", 40, "\\377"));
  EXPECT_EQ(o.exit_code, 0) << o.err;
  const json r = by_tag(results_of(o.out)).at("bin");
  EXPECT_EQ(r.at("value").at("stdout").get<std::string>().size(), 120U);  // 40 x U+FFFD
  EXPECT_FALSE(r.contains("truncated")) << r.dump();
}

TEST_P(CliExecOutputTest, ExecInvalidUtf8_CutAtTheLimitInBytes) {
  temp_dir d;
  auto o = run_procpool(d, args({"--max-output", "50", "--allow-truncation"}),
                        printing("bin", 60, "\\377"));
  EXPECT_EQ(o.exit_code, 0) << o.err;
  const json r = by_tag(results_of(o.out)).at("bin");
  EXPECT_EQ(r.at("value").at("stdout").get<std::string>().size(), 150U);  // 50 x U+FFFD
  EXPECT_EQ(r.at("truncated"), true);
}

INSTANTIATE_TEST_SUITE_P(Modes, CliExecOutputTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& i) {
                           return i.param ? std::string("Process") : std::string("Thread");
                         });

}  // namespace
