// Command templates: `procpool run [options] -- CMD ARG... ::: A B`, `::::
// FILE`, standard input, replacement strings, --link, -0, --dry-run, and
// arguments that are not UTF-8. The commands are printf, wc and cat through
// the built-in exec (no shell).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cli_test_util.hpp"

namespace {

using procpool_cli_test::by_tag;
using procpool_cli_test::child;
using procpool_cli_test::read_file;
using procpool_cli_test::results_of;
using procpool_cli_test::run_procpool;
using procpool_cli_test::temp_dir;

// The stdout of each job, by job number.
std::vector<std::string> job_stdouts(const std::string& out) {
  const auto results = by_tag(results_of(out));
  std::vector<std::string> v;
  for (std::size_t n = 1; results.count(std::to_string(n)) != 0; ++n) {
    const auto& r = results.at(std::to_string(n));
    EXPECT_EQ(r.at("state"), "done") << r.dump();
    v.push_back(r.at("value").at("stdout").get<std::string>());
  }
  return v;
}

child::outcome run_tpl(const temp_dir& dir, std::vector<std::string> args,
                       std::string_view stdin_text = {}) {
  args.insert(args.begin(), {"run", "-q", "-j", "2"});
  return run_procpool(dir, args, stdin_text);
}

TEST(TemplateExec, ArgumentsFromTripleColon) {
  temp_dir dir;
  const auto r = run_tpl(dir, {"--", "/bin/echo", "{}", ":::", "a", "b", "c"});
  ASSERT_TRUE(r.finished);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(job_stdouts(r.out), (std::vector<std::string>{"a\n", "b\n", "c\n"}));
}

TEST(TemplateExec, AppendsTheArgumentWithoutReplacementString) {
  temp_dir dir;
  const auto r = run_tpl(dir, {"--", "printf", "<%s>", ":::", "a", "b", "c"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto results = results_of(r.out);
  EXPECT_EQ(results.size(), 3U);
  EXPECT_EQ(job_stdouts(r.out), (std::vector<std::string>{"<a>", "<b>", "<c>"}));
  for (const auto& j : results) EXPECT_EQ(j.at("line").get<int>(), std::stoi(j.at("tag").get<std::string>()));
}

TEST(TemplateExec, ReplacementStrings) {
  temp_dir dir;
  const auto r = run_tpl(dir, {"--", "printf", "%s;%s;%s;%s;%s;%s", "{}", "{.}", "{/}", "{//}",
                               "{/.}", "{#}", ":::", "dir/x.tar.gz", "y"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(job_stdouts(r.out),
            (std::vector<std::string>{"dir/x.tar.gz;dir/x.tar;x.tar.gz;dir;x.tar;1", "y;y;y;.;y;2"}));
}

TEST(TemplateExec, CombinationsFirstSourceSlowest) {
  temp_dir dir;
  const auto r = run_tpl(dir, {"--", "printf", "{1}{2}", ":::", "a", "b", ":::", "1", "2", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(job_stdouts(r.out), (std::vector<std::string>{"a1", "a2", "a3", "b1", "b2", "b3"}));
}

TEST(TemplateExec, TenthSourceIsAReplacementString) {
  temp_dir dir;
  std::vector<std::string> args{"--", "printf", "{10}{1}"};
  for (int i = 0; i < 10; ++i) args.insert(args.end(), {":::", std::to_string(i)});
  const auto r = run_tpl(dir, args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(job_stdouts(r.out), (std::vector<std::string>{"90"}));
}

TEST(TemplateExec, LinkPairsSources) {
  temp_dir dir;
  const auto r = run_tpl(dir, {"--link", "--", "printf", "{2}{1}", ":::", "a", "b", ":::", "1", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(job_stdouts(r.out), (std::vector<std::string>{"1a", "2b"}));
}

TEST(TemplateExec, QuadColonFileAndStdinLines) {
  temp_dir dir;
  const std::string list = dir.write("list", "p\nq\n");
  auto r = run_tpl(dir, {"--", "printf", "[%s]", "::::", list});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(job_stdouts(r.out), (std::vector<std::string>{"[p]", "[q]"}));
  r = run_tpl(dir, {"--", "printf", "[%s]"}, "s1\ns 2\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(job_stdouts(r.out), (std::vector<std::string>{"[s1]", "[s 2]"}));
}

TEST(TemplateExec, NulSeparated) {
  temp_dir dir;
  const std::string list = dir.write("list", std::string("a\nb\0c", 5));
  auto r = run_tpl(dir, {"-0", "--", "printf", "[%s]", "::::", list});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(job_stdouts(r.out), (std::vector<std::string>{"[a\nb]", "[c]"}));
  r = run_tpl(dir, {"-0", "--", "printf", "[%s]"}, std::string("x y\0z\0", 6));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(job_stdouts(r.out), (std::vector<std::string>{"[x y]", "[z]"}));
}

TEST(TemplateExec, DryRunPrintsAndRunsNothing) {
  temp_dir dir;
  const std::string marker = dir.file("made");
  const auto r = run_tpl(dir, {"--dry-run", "--", "touch", "{}", ":::", marker, "a b"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "touch " + marker + "\ntouch 'a b'\n");
  EXPECT_FALSE(procpool_cli_test::file_exists(marker));
}

TEST(TemplateExec, TagString) {
  temp_dir dir;
  const auto r = run_tpl(dir, {"--tagstring", "t-{}", "--", "printf", "x", ":::", "a", "b"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto results = by_tag(results_of(r.out));
  EXPECT_EQ(results.count("t-a"), 1U);
  EXPECT_EQ(results.count("t-b"), 1U);
}

TEST(TemplateExec, NonUtf8FileName) {
  temp_dir dir;
  const std::string name = dir.write(std::string("f\xff\xfe", 3), "12345");
  const auto r = run_tpl(dir, {"--", "wc", "-c", "{}", ":::", name});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto out = job_stdouts(r.out);
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].rfind("5 ", 0), 0U) << out[0];
}

TEST(TemplateExec, FileWithoutSeparatorStillMeansJsonLines) {
  temp_dir dir;
  const std::string in = dir.write("tasks.jsonl", "{\"tag\":\"e\",\"task\":\"echo\",\"args\":7}\n");
  const auto r = run_procpool(dir, {"run", "-q", in}, "");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto results = by_tag(results_of(r.out));
  ASSERT_EQ(results.count("e"), 1U);
  EXPECT_EQ(results.at("e").at("value"), 7);
}

TEST(TemplateExec, ResumeRunsTheJobsNotDone) {
  temp_dir dir;
  const std::string out = dir.file("out.jsonl");
  auto r = run_tpl(dir, {"-o", out, "--", "test", "{}", "!=", "b", ":::", "a", "b", "c"});
  ASSERT_EQ(r.exit_code, 1) << r.err;
  r = run_tpl(dir, {"-o", out, "--resume", "--", "printf", "x", ":::", "a", "b", "c"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto results = results_of(read_file(out));
  ASSERT_EQ(results.size(), 4U);
  EXPECT_EQ(results.back().at("tag"), "2");
  EXPECT_EQ(results.back().at("state"), "done");
}

TEST(TemplateUsage, NoCommandIsAUsageError) {
  temp_dir dir;
  const auto r = run_tpl(dir, {":::", "a", "b"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("needs a command"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
}

}  // namespace
