// Where a job's output goes: --results DIR (per-job files, escaped tags),
// --stdout with --tag/--tagstring (grouped output), tags that are not UTF-8
// (tag_base64, read back by --resume), and the progress line's total for a
// command template. Jobs that must still be running when the test looks block
// on a FIFO the test opens, never on a sleep.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "cli_test_util.hpp"
#include "results_dir.hpp"
#include "tag_bytes.hpp"

namespace {

namespace fs = std::filesystem;
using procpool_cli_test::by_tag;
using procpool_cli_test::child;
using procpool_cli_test::file_exists;
using procpool_cli_test::json;
using procpool_cli_test::lines_of;
using procpool_cli_test::make_fifos;
using procpool_cli_test::read_file;
using procpool_cli_test::release;
using procpool_cli_test::results_of;
using procpool_cli_test::run_procpool;
using procpool_cli_test::scaled;
using procpool_cli_test::temp_dir;
using namespace std::chrono_literals;

child::outcome run_jobs(const temp_dir& dir, std::vector<std::string> args) {
  args.insert(args.begin(), {"run", "-q", "-j", "2"});
  return run_procpool(dir, args, {});
}

// The exact bytes of a result line's tag.
std::string tag_bytes_of(const json& line) {
  if (line.contains("tag_base64")) {
    const auto bytes = procpool::cli::detail::base64_decode(line.at("tag_base64").get<std::string>());
    EXPECT_TRUE(bytes.has_value()) << line.dump();
    return bytes.value_or("");
  }
  return line.at("tag").get<std::string>();
}

// Every byte but NUL and '/' (a file name's bytes), and two that are not UTF-8 on their own.
std::string every_name_byte() {
  std::string s;
  for (int c = 1; c < 256; ++c) {
    if (c != '/') s.push_back(static_cast<char>(c));
  }
  return s;
}

TEST(TagBytes, Base64RoundTripsAndRefusesWhatIsNotCanonical) {
  using procpool::cli::detail::base64_decode;
  using procpool::cli::detail::base64_encode;
  for (const std::string& s : {std::string(), std::string("a"), std::string("ab"), std::string("abc"),
                              std::string("\xff\x00\xfe", 3), every_name_byte()}) {
    EXPECT_EQ(base64_decode(base64_encode(s)), s);
  }
  EXPECT_EQ(base64_encode("\xff" "b"), "/2I=");
  EXPECT_FALSE(base64_decode("/2I").has_value());    // not padded
  EXPECT_FALSE(base64_decode("/2J=").has_value());   // stray bits: not the canonical form
  EXPECT_FALSE(base64_decode("/2 I=").has_value());  // whitespace inside
  EXPECT_FALSE(base64_decode("=2I=").has_value());
}

// Tags that are not UTF-8 come back byte for byte: a first run fails on the
// files that are missing, the second (--resume) runs exactly those again.
TEST(TagBytesExec, ResumeReadsBackTheExactBytes) {
  temp_dir dir;
  fs::create_directory(dir.file("sub"));
  const std::string odd = every_name_byte();
  const std::string here = fs::path(dir.path()).filename().string();
  const std::vector<std::string> names = {"f\xff", "sub/g\xfe", "../" + here + "/h\x80.", odd,
                                          std::string("f\xfe", 2)};
  dir.write(names[0], "0");
  dir.write(names[2], "2");
  std::vector<std::string> args = {"-o", "out.jsonl", "--tagstring", "{}", "--", "cat", "{}", ":::"};
  args.insert(args.end(), names.begin(), names.end());
  const auto first = run_jobs(dir, args);
  ASSERT_TRUE(first.finished);
  EXPECT_EQ(first.exit_code, 1) << first.err;
  std::map<std::string, std::string> state;
  for (const json& l : results_of(read_file(dir.file("out.jsonl")))) {
    state[tag_bytes_of(l)] = l.at("state").get<std::string>();
    if (l.contains("tag_base64")) {  // "tag" is the readable form: U+FFFD for each bad byte
      EXPECT_NE(l.at("tag").get<std::string>().find("\xEF\xBF\xBD"), std::string::npos);
    }
  }
  ASSERT_EQ(state.size(), names.size());
  EXPECT_EQ(state[names[0]], "done");
  EXPECT_EQ(state[names[1]], "failed");
  EXPECT_EQ(state[names[2]], "done");
  EXPECT_EQ(state[odd], "failed");
  EXPECT_EQ(state[names[4]], "failed");

  dir.write(names[1], "1");
  dir.write(names[4], "4");
  args.insert(args.begin(), "--resume");
  const auto second = run_jobs(dir, args);
  ASSERT_TRUE(second.finished);
  EXPECT_EQ(second.exit_code, 1) << second.err;  // `odd` is no file: it fails again
  const auto all = results_of(read_file(dir.file("out.jsonl")));
  ASSERT_EQ(all.size(), names.size() + 3) << "only the failed tags ran again";
  std::multiset<std::string> rerun;
  for (std::size_t i = names.size(); i < all.size(); ++i) rerun.insert(tag_bytes_of(all[i]));
  EXPECT_EQ(rerun, (std::multiset<std::string>{names[1], names[4], odd}));
  for (std::size_t i = names.size(); i < all.size(); ++i) {
    EXPECT_EQ(all[i].at("state"), tag_bytes_of(all[i]) == odd ? "failed" : "done") << all[i].dump();
  }
}

TEST(ResultsDir, TagComponentsCannotLeaveTheDirectoryOrCollide) {
  using procpool::cli::detail::tag_path_component;
  const std::vector<std::string> tags = {".", "..", "...", "a/b", "a%2Fb", "a%b", "-", ".hidden",
                                         std::string("\xff"), std::string(300, 'x'),
                                         std::string(299, 'x') + "y", std::string(100, '/')};
  std::set<std::string> seen;
  for (const std::string& t : tags) {
    const std::string c = tag_path_component(t);
    EXPECT_TRUE(seen.insert(c).second) << "collision: " << c;
    EXPECT_EQ(c.find('/'), std::string::npos) << c;
    EXPECT_NE(c.front(), '.') << c;
    EXPECT_LE(c.size(), 200U + 2U + 64U) << c;
  }
  EXPECT_EQ(tag_path_component("a/b"), "a%2Fb");
  EXPECT_EQ(tag_path_component("x.tar.gz"), "x.tar.gz");
}

TEST(ResultsDirExec, FilesPerJobInsideTheDirectory) {
  temp_dir dir;
  const std::vector<std::string> tags = {"a/b", "a%2Fb", "..", ".", std::string("n\xff"),
                                         std::string(300, 'z')};
  std::vector<std::string> args = {"--results", "res", "--tagstring", "{}", "--",
                                   "sh", "-c", "printf '%s' \"$1\"; printf 'E%s' \"$1\" >&2", "sh", "{}",
                                   ":::"};
  args.insert(args.end(), tags.begin(), tags.end());
  const auto r = run_jobs(dir, args);
  ASSERT_TRUE(r.finished);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Only res/ and the harness's stdin file were created beside it.
  std::set<std::string> top;
  for (const auto& e : fs::directory_iterator(dir.path())) top.insert(e.path().filename().string());
  EXPECT_EQ(top, (std::set<std::string>{"res", "stdin.jsonl"}));
  std::size_t jobs = 0;
  for (const auto& e : fs::directory_iterator(dir.file("res"))) {
    ASSERT_TRUE(e.is_directory()) << e.path();
    const json result = json::parse(read_file((e.path() / "result.json").string()));
    const std::string tag = tag_bytes_of(result);
    EXPECT_EQ(read_file((e.path() / "stdout").string()), tag);
    EXPECT_EQ(read_file((e.path() / "stderr").string()), "E" + tag);
    EXPECT_EQ(result.at("state"), "done");
    ++jobs;
  }
  EXPECT_EQ(jobs, tags.size());
}

// --max-output bounds the copy in the result line; the files hold every byte,
// so the cut loses nothing and does not fail the run.
TEST(ResultsDirExec, KeepsOutputBeyondMaxOutput) {
  temp_dir dir;
  const auto r = run_jobs(dir, {"--results", "res", "--max-output", "1000", "-o", "out.jsonl", "--",
                                "head", "-c", "{}", "/dev/zero", ":::", "300000"});
  ASSERT_TRUE(r.finished);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(fs::file_size(dir.file("res/1/stdout")), 300000U);
  const auto line = results_of(read_file(dir.file("out.jsonl"))).at(0);
  EXPECT_EQ(line.at("value").at("stdout").get<std::string>().size(), 1000U);
  EXPECT_EQ(line.value("truncated", false), true);
  EXPECT_EQ(json::parse(read_file(dir.file("res/1/result.json"))), line);
}

TEST(ResultsDirExec, FailedCommandKeepsItsFiles) {
  temp_dir dir;
  const auto r = run_jobs(dir, {"--results", "res", "--", "sh", "-c", "echo o; echo e >&2; exit 3",
                                ":::", "x"});
  ASSERT_TRUE(r.finished);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(read_file(dir.file("res/1/stdout")), "o\n");
  EXPECT_EQ(read_file(dir.file("res/1/stderr")), "e\n");
  const json result = json::parse(read_file(dir.file("res/1/result.json")));
  EXPECT_EQ(result.at("state"), "failed");
  EXPECT_EQ(result.at("exit_code"), 3);
}

TEST(ResultsDir, UncreatableDirectoryIsAUsageError) {
  temp_dir dir;
  dir.write("plain", "x");
  const auto r = run_jobs(dir, {"--results", "plain/res", "--", "true", ":::", "x"});
  ASSERT_TRUE(r.finished);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("plain/res"), std::string::npos) << r.err;
}

// Each job's lines arrive together, in job order with -k, labelled with the
// job's arguments under --tag.
TEST(StdoutExec, GroupsEachJobsOutputAndTagsItsLines) {
  temp_dir dir;
  const auto r = run_jobs(dir, {"-k", "--tag", "--", "sh", "-c",
                                "for i in 1 2 3 4 5 6 7 8; do echo \"$1 $i\"; done", "sh", "{}",
                                ":::", "a", "b c", "d"});
  ASSERT_TRUE(r.finished);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> expected;
  for (const std::string arg : {"a", "b c", "d"}) {
    for (int i = 1; i <= 8; ++i) expected.push_back(arg + "\t" + arg + " " + std::to_string(i));
  }
  EXPECT_EQ(lines_of(r.out), expected);
}

TEST(StdoutExec, GroupedWithoutKeepOrderToo) {
  temp_dir dir;
  const auto r = run_jobs(dir, {"--stdout", "--", "sh", "-c",
                                "for i in 1 2 3 4 5 6 7 8; do echo \"$1\"; done", "sh", ":::",
                                "a", "b", "c", "d"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 32U);
  for (std::size_t block = 0; block < 4; ++block) {
    for (std::size_t i = 1; i < 8; ++i) EXPECT_EQ(lines[block * 8 + i], lines[block * 8]) << r.out;
  }
}

// Under --stdout the result lines go to --output, where --resume finds them;
// a job's stderr goes to stderr, labelled like its stdout.
TEST(StdoutExec, ResultLinesGoToOutputAndResumeReadsThem) {
  temp_dir dir;
  std::vector<std::string> args = {"--stdout", "-k", "--tagstring", "t{}", "-o", "out.jsonl", "--",
                                   "sh", "-c", "echo out-$1; echo err-$1 >&2; test -e \"$1\"",
                                   "sh", ":::", "x", "y"};
  dir.write("x", "");
  const auto first = run_jobs(dir, args);
  ASSERT_TRUE(first.finished);
  EXPECT_EQ(first.exit_code, 1) << first.err;
  EXPECT_EQ(first.out, "tx\tout-x\nty\tout-y\n");
  EXPECT_NE(first.err.find("tx\terr-x\n"), std::string::npos) << first.err;
  const auto lines = by_tag(results_of(read_file(dir.file("out.jsonl"))));
  EXPECT_EQ(lines.at("tx").at("state"), "done");
  EXPECT_EQ(lines.at("ty").at("state"), "failed");

  dir.write("y", "");
  args.insert(args.begin(), "--resume");
  const auto second = run_jobs(dir, args);
  EXPECT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(second.out, "ty\tout-y\n");
}

TEST(StdoutThread, ValuesOfOtherTasks) {
  temp_dir dir;
  const std::string input = procpool_cli_test::task_line("s", "echo", "text") +
                            procpool_cli_test::task_line("n", "echo", 7) +
                            procpool_cli_test::task_line("j", "echo", json{{"k", 1}});
  const auto r = run_procpool(dir, {"run", "-q", "--mode", "thread", "-k", "--stdout"}, input);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "text\n7\n{\"k\":1}\n");
}

// A template's job count is known before its jobs are read: the progress line
// shows the total while intake still waits for queue room (-j 1, one queued).
TEST(ProgressExec, TemplateTotalKnownFromTheStart) {
  temp_dir dir;
  const auto fifos = make_fifos(dir, {"f1", "f2", "f3"});
  child::options o;
  o.cwd = dir.path();
  child c({"run", "--progress", "-j", "1", "--max-queue", "1", "--", "cat", ":::", "f1", "f2", "f3"},
          o);
  EXPECT_TRUE(c.wait_err_contains(" 0/3 ", scaled(30s))) << "no total in the progress line";
  for (const std::string& f : fifos) release(f);
  const auto r = c.wait(scaled(60s));
  ASSERT_TRUE(r.finished);
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

}  // namespace
