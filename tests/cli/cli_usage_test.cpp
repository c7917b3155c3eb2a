// End-to-end tests of the command line's sharp edges: counts out of range and
// their messages, the -j aliases, an unknown command, an input that is a
// directory or is also the output, --halt-on-error's value, the failures the
// summary lists. Thread mode; only the Exec case starts programs.
#include "cli_test_util.hpp"

namespace {

using namespace procpool_cli_test;

const std::string one_line = "{\"tag\":\"a\",\"task\":\"echo\",\"args\":1}\n";

TEST(CliUsageEdgesTest, WorkersOutOfRange_ReadableRangeError) {
  temp_dir d;
  for (const char* n : {"0", "-3", "99999999999999999999", "two"}) {
    const auto o = run_procpool(d, {"run", "--mode", "thread", "-q", "-j", n}, one_line);
    EXPECT_EQ(o.exit_code, 2) << n;
    EXPECT_NE(o.err.find("1 or more"), std::string::npos) << n << ": " << o.err;
    EXPECT_LT(o.err.size(), 300U) << "no 309-digit bound: " << o.err;
  }
}

TEST(CliUsageEdgesTest, JobsAndP_AreAliasesOfJ) {
  temp_dir d;
  for (const char* opt : {"--jobs", "-P", "-j", "--workers"}) {
    const auto o = run_procpool(d, {"run", "--mode", "thread", "-q", opt, "2"}, one_line);
    EXPECT_EQ(o.exit_code, 0) << opt << ": " << o.err;
    EXPECT_NE(o.out.find("\"state\":\"done\""), std::string::npos) << opt;
  }
}

TEST(CliUsageEdgesTest, NegativeCounts_Refused) {
  temp_dir d;
  for (const char* opt : {"--max-tasks-per-worker", "--max-queue", "--retries", "--max-line-bytes", "--timeout"}) {
    const auto o = run_procpool(d, {"run", "--mode", "thread", "-q", opt, "-1"}, one_line);
    EXPECT_EQ(o.exit_code, 2) << opt << ": " << o.out << o.err;
    EXPECT_TRUE(o.out.empty()) << opt << ": nothing may run";
  }
}

TEST(CliUsageEdgesTest, UnknownCommand_IsNamed) {
  temp_dir d;
  const auto o = run_procpool(d, {"runn"}, "");
  EXPECT_EQ(o.exit_code, 2);
  EXPECT_NE(o.err.find("unknown command 'runn'"), std::string::npos) << o.err;
}

TEST(CliUsageEdgesTest, InputDirectory_IsAUsageError) {
  temp_dir d;
  const auto o = run_procpool(d, {"run", "--mode", "thread", "-q", d.path() + "/"}, "");
  EXPECT_EQ(o.exit_code, 2) << o.err;
  EXPECT_NE(o.err.find("is a directory"), std::string::npos) << o.err;
}

TEST(CliUsageEdgesTest, OutputOrJoblogIsTheInput_RefusedInputUntouched) {
  temp_dir d;
  const std::string in = d.write("in.jsonl", one_line);
  const std::vector<std::vector<std::string>> cases = {
      {"-o", in, in},                          // the same path
      {"-o", "in.jsonl", in},                  // another name of the same file
      {"--joblog", in, in},                    //
      {"--resume", "-o", in, in},              // would append to what is being read
      {"-o", d.file("stdin.jsonl"), "-"},      // standard input redirected from it
  };
  for (const auto& extra : cases) {
    std::vector<std::string> args = {"run", "--mode", "thread", "-q"};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto o = run_procpool(d, args, one_line);
    EXPECT_EQ(o.exit_code, 2) << extra.at(0) << " " << extra.at(1) << ": " << o.err;
    EXPECT_NE(o.err.find("is the input file too"), std::string::npos) << o.err;
    EXPECT_EQ(read_file(in), one_line);
    EXPECT_EQ(read_file(d.file("stdin.jsonl")), one_line);
  }
}

TEST(CliUsageEdgesTest, HaltOnErrorNowOrSoon_IsTheValueNotTheInputFile) {
  temp_dir d;
  const std::string in = d.write("in.jsonl", "{\"tag\":\"bad\",\"task\":\"sleep\",\"args\":\"x\"}\n");
  const auto now = run_procpool(d, {"run", "--mode", "thread", "-q", "--halt-on-error", "now", in}, "");
  EXPECT_EQ(now.exit_code, 4) << now.err;
  EXPECT_NE(now.out.find("\"tag\":\"bad\""), std::string::npos) << "the file was read: " << now.out;
  const auto soon = run_procpool(d, {"run", "--mode", "thread", "-q", "--halt-on-error", "soon", in}, "");
  EXPECT_EQ(soon.exit_code, 3) << soon.err;
  // After "--" a word is a command template's whatever it reads: `now` is a
  // program (not found: the job fails), so the halt is soon's.
  const auto cmd = run_procpool(d, {"run", "--mode", "thread", "-q", "--halt-on-error", "--", "now"}, "x\n");
  EXPECT_EQ(cmd.exit_code, 3) << "now is the command: " << cmd.err << cmd.out;
}

// The summary names where to look: the first failures with their reasons,
// then how many more there were. Exec: a command's stderr is the reason.
TEST(CliSummaryTest, Exec_SummaryListsFirstFailuresAndCountsTheRest) {
  temp_dir d;
  std::string input = "{\"tag\":\"x\",\"task\":\"exec\",\"args\":[\"sh\",\"-c\",\"echo boom >&2; exit 3\"]}\n";
  for (int i = 0; i < 12; ++i) {
    input += "{\"tag\":\"r" + std::to_string(i) + "\",\"task\":\"sleep\",\"args\":\"z\"}\n";
  }
  input += "{\"tag\":\"ok\",\"task\":\"echo\"}\n";
  const auto o = run_procpool(d, {"run", "--mode", "thread", "-j", "1", "--no-progress", "-"}, input);
  EXPECT_EQ(o.exit_code, 1) << o.err;
  EXPECT_NE(o.err.find("procpool: line 1 (tag x): exited with code 3; stderr: boom\n"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("(tag r0): rejected (bad_arguments): task 'sleep' takes one argument"), std::string::npos)
      << o.err;
  EXPECT_NE(o.err.find("procpool: and 3 more not done\n"), std::string::npos) << "13 failures, 10 listed: " << o.err;
  EXPECT_EQ(o.err.find("tag ok"), std::string::npos) << o.err;

  const auto quiet = run_procpool(d, {"run", "--mode", "thread", "-q", "-"}, input);
  EXPECT_EQ(quiet.exit_code, 1);
  EXPECT_EQ(quiet.err.find("line 1"), std::string::npos) << "quiet: no summary: " << quiet.err;
}

}  // namespace
