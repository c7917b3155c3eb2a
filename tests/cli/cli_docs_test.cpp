// The recipes of docs/cli.md ("Coming from GNU parallel / xargs"), run as
// written: each ```sh block after a `<!-- recipe: NAME -->` marker is read from
// the document and run by /bin/sh in a temporary directory, with the built
// `procpool` first on PATH. A recipe that needs jq is skipped without it.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "cli_test_util.hpp"

namespace {

using namespace procpool_cli_test;

/// The body of the ```sh block that follows `<!-- recipe: name -->`.
std::string recipe(const std::string& name) {
  const std::string doc = read_file(PROCPOOL_DOCS_CLI_MD);
  const std::string marker = "<!-- recipe: " + name + " -->\n```sh\n";
  const std::size_t at = doc.find(marker);
  if (at == std::string::npos) throw std::runtime_error("docs/cli.md has no recipe " + name);
  const std::size_t begin = at + marker.size();
  const std::size_t end = doc.find("```\n", begin);
  return doc.substr(begin, end - begin);
}

bool have_jq() {
  child::options o;
  o.exe = "/bin/sh";
  child c({"-c", "command -v jq"}, o);
  return c.wait(30s).exit_code == 0;
}

/// Runs `script` with /bin/sh in `dir`; `env`: extra "NAME=value" entries.
child::outcome run_sh(const temp_dir& dir, const std::string& script,
                      const std::vector<std::string>& env = {}) {
  const std::string bin = std::filesystem::path(procpool_exe()).parent_path().string();
  child::options o;
  o.exe = "/bin/sh";
  o.cwd = dir.path();
  o.env = env;
  child c({"-c", "PATH='" + bin + "':\"$PATH\"; export PATH\n" + script}, o);
  return c.wait(60s);
}

#define REQUIRE_JQ() \
  if (!have_jq()) GTEST_SKIP() << "jq is not installed"

TEST(DocsRecipesTest, Exec_GzipEveryLogFile) {
  REQUIRE_JQ();
  temp_dir d;
  std::filesystem::create_directories(d.file("logs/sub"));
  d.write("logs/a.log", "aaaa\n");
  d.write("logs/sub/b c.log", "bbbb\n");
  d.write("logs/keep.txt", "not a log\n");
  const auto r = run_sh(d, recipe("gzip"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(file_exists(d.file("logs/a.log.gz")));
  EXPECT_TRUE(file_exists(d.file("logs/sub/b c.log.gz")));
  EXPECT_TRUE(file_exists(d.file("logs/keep.txt")));
  EXPECT_EQ(lines_of(read_file(d.file("gzip.results.jsonl"))).size(), 2U);
  EXPECT_EQ(lines_of(read_file(d.file("gzip.joblog"))).size(), 3U);  // the header and 2
}

TEST(DocsRecipesTest, Exec_GzipNulSeparatedNames) {
  REQUIRE_JQ();
  temp_dir d;
  std::filesystem::create_directories(d.file("logs"));
  d.write("logs/new\nline.log", "x\n");
  d.write("logs/plain.log", "y\n");
  const auto r = run_sh(d, recipe("gzip-nul"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(file_exists(d.file("logs/new\nline.log.gz")));
  EXPECT_TRUE(file_exists(d.file("logs/plain.log.gz")));
  EXPECT_EQ(lines_of(read_file(d.file("gzip.results.jsonl"))).size(), 2U);
}

TEST(DocsRecipesTest, Exec_GzipWithACommandTemplate) {
  temp_dir d;
  std::filesystem::create_directories(d.file("logs"));
  d.write("logs/new\nline.log", "x\n");
  d.write("logs/plain.log", "y\n");
  const auto r = run_sh(d, recipe("gzip-template"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(file_exists(d.file("logs/new\nline.log.gz")));
  EXPECT_TRUE(file_exists(d.file("logs/plain.log.gz")));
  std::set<std::string> tags;
  for (const json& j : results_of(read_file(d.file("gzip.results.jsonl")))) {
    EXPECT_EQ(j["state"], "done") << j;
    tags.insert(j["tag"].get<std::string>());
  }
  EXPECT_EQ(tags, (std::set<std::string>{"logs/new\nline.log", "logs/plain.log"}));
}

TEST(DocsRecipesTest, Exec_CollectStdoutPlainAndTagged) {
  REQUIRE_JQ();
  temp_dir d;
  const auto r = run_sh(d, recipe("stdout"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(d.file("words.txt")), "word alpha\nword beta\nword gamma\n");
  EXPECT_EQ(read_file(d.file("words.tagged.txt")),
            "alpha\tword alpha\nbeta\tword beta\ngamma\tword gamma\n");
}

TEST(DocsRecipesTest, Exec_PlainAndTaggedOutputOfATemplate) {
  temp_dir d;
  const auto r = run_sh(d, recipe("stdout-template"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(d.file("words.txt")), "word alpha\nword beta\nword gamma\n");
  EXPECT_EQ(read_file(d.file("words.tagged.txt")),
            "alpha\tword alpha\nbeta\tword beta\ngamma\tword gamma\n");
}

TEST(DocsRecipesTest, Exec_ResultsDirectory) {
  temp_dir d;
  const auto r = run_sh(d, recipe("results-dir"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "1\n2\n3\ncounted to 3\n");
  std::string expected;
  for (int i = 1; i <= 100000; ++i) expected += std::to_string(i) + "\n";
  EXPECT_EQ(read_file(d.file("out/100000/stdout")), expected);  // 588895 bytes: all of it
  EXPECT_EQ(json::parse(read_file(d.file("out/100000/result.json")))["state"], "done");
  EXPECT_EQ(results_of(read_file(d.file("results.jsonl"))).size(), 2U);
}

TEST(DocsRecipesTest, Exec_ListFailures) {
  REQUIRE_JQ();
  temp_dir d;
  d.write("tasks.jsonl", task_line("ok", "exec", json::array({"true"})) +
                             task_line("bad", "exec", json::array({"sh", "-c", "echo oops >&2; exit 3"})) +
                             "not json\n");
  const auto first = run_sh(d, "procpool run -q -k -o results.jsonl tasks.jsonl");
  ASSERT_EQ(first.exit_code, 1) << first.err;
  const auto r = run_sh(d, recipe("failures"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = lines_of(read_file(d.file("failures.tsv")));
  ASSERT_EQ(rows.size(), 2U);
  EXPECT_EQ(rows[0].rfind("2\tbad\tfailed\texited with code 3", 0), 0U) << rows[0];
  EXPECT_EQ(rows[1].rfind("3\t\trejected\t", 0), 0U) << rows[1];
  EXPECT_EQ(read_file(d.file("failures.stderr")), "oops\n\n");
}

// The recipe's first command is stopped by a SIGINT that one of its own tasks
// sends (the Ctrl-C): each command runs as `exec` of a shell that exported its
// pid, so the task knows whom to signal and nothing waits on a clock.
TEST(DocsRecipesTest, Exec_ResumeAfterCtrlC) {
  temp_dir d;
  std::string tasks;
  for (int i = 0; i < 3; ++i) tasks += task_line("a" + std::to_string(i), "echo", i);
  tasks += task_line("ctrl-c", "exec",
                     json::array({"sh", "-c", "[ -e stopped ] || { : > stopped; kill -INT \"$RECIPE_PID\"; }"}));
  for (int i = 0; i < 100; ++i) tasks += task_line("b" + std::to_string(i), "sleep", 20);
  d.write("tasks.jsonl", tasks);
  std::vector<std::string> commands;
  for (const std::string& line : lines_of(recipe("resume"))) {
    commands.push_back(line.substr(0, line.find("  #")));
  }
  ASSERT_EQ(commands.size(), 2U);
  const auto first = run_sh(d, "export RECIPE_PID=$$; exec " + commands[0]);
  ASSERT_EQ(first.exit_code, 130) << first.err;
  const auto second = run_sh(d, "exec " + commands[1]);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  std::set<std::string> done;
  for (const json& j : results_of(read_file(d.file("results.jsonl")))) {
    if (j["state"] == "done") {
      EXPECT_TRUE(done.insert(j["tag"].get<std::string>()).second) << j;
    }
  }
  EXPECT_EQ(done.size(), 104U);
}

}  // namespace
