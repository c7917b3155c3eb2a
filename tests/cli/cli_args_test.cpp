// End-to-end tests of how a line's "args" reach a task: the command applies the
// library's rule (one parameter: the value itself or a one-element array; N
// parameters: an N-element array), so the same JSONL means the same call in
// both. Thread mode, no exec: these run under TSan too.
#include "cli_test_util.hpp"

#ifndef PROCPOOL_CLI_ARGS_RUNNER
#error "PROCPOOL_CLI_ARGS_RUNNER (the path of the args runner) must be defined"
#endif

namespace {

using namespace procpool_cli_test;

child::outcome run_runner(const temp_dir& d, const std::vector<std::string>& args, std::string_view input) {
  child::options o;
  o.stdin_file = d.write("stdin.jsonl", input);
  o.cwd = d.path();
  o.exe = PROCPOOL_CLI_ARGS_RUNNER;
  child c(args, o);
  return c.wait(60s);
}

/// The result lines by tag.
std::map<std::string, json> by_tag(const std::string& out) {
  std::map<std::string, json> m;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    const json r = json::parse(line);
    m[r.at("tag").get<std::string>()] = r;
  }
  return m;
}

TEST(CliArgsTest, OneContainerParameter_TakesValueOrOneElementArray) {
  temp_dir d;
  const std::string input =
      "{\"tag\":\"flat\",\"task\":\"sum\",\"args\":[1,2,3]}\n"
      "{\"tag\":\"wrapped\",\"task\":\"sum\",\"args\":[[1,2,3]]}\n"
      "{\"tag\":\"empty\",\"task\":\"sum\",\"args\":[]}\n"
      "{\"tag\":\"sq\",\"task\":\"square\",\"args\":5}\n"
      "{\"tag\":\"sq1\",\"task\":\"square\",\"args\":[5]}\n"
      "{\"tag\":\"add\",\"task\":\"add\",\"args\":[2,3]}\n"
      "{\"tag\":\"primes\",\"task\":\"primes\",\"args\":[100]}\n";
  const auto o = run_runner(d, {"run", "--mode", "thread", "-j", "2", "-q"}, input);
  ASSERT_TRUE(o.finished);
  EXPECT_EQ(o.exit_code, 0) << o.out << o.err;
  const auto r = by_tag(o.out);
  ASSERT_EQ(r.size(), 7U) << o.out;
  EXPECT_EQ(r.at("flat").at("value"), 6);
  EXPECT_EQ(r.at("wrapped").at("value"), 6);
  EXPECT_EQ(r.at("empty").at("value"), 0);
  EXPECT_EQ(r.at("sq").at("value"), 25);
  EXPECT_EQ(r.at("sq1").at("value"), 25);
  EXPECT_EQ(r.at("add").at("value"), 5);
  EXPECT_EQ(r.at("primes").at("value"), 25);
}

TEST(CliArgsTest, WrongShape_RejectedNamingTheExpectedShape) {
  temp_dir d;
  const std::string input =
      "{\"tag\":\"s\",\"task\":\"sum\",\"args\":\"x\"}\n"
      "{\"tag\":\"s2\",\"task\":\"sum\",\"args\":[[1],2]}\n"
      "{\"tag\":\"a\",\"task\":\"add\",\"args\":5}\n"
      "{\"tag\":\"a2\",\"task\":\"add\",\"args\":[1]}\n"
      "{\"tag\":\"q\",\"task\":\"square\"}\n";
  const auto o = run_runner(d, {"run", "--mode", "thread", "-q"}, input);
  ASSERT_TRUE(o.finished);
  EXPECT_EQ(o.exit_code, 1);
  const auto r = by_tag(o.out);
  ASSERT_EQ(r.size(), 5U) << o.out;
  for (const auto& [tag, line] : r) {
    EXPECT_EQ(line.at("state"), "rejected") << line.dump();
    EXPECT_EQ(line.at("error").at("type"), "bad_arguments") << line.dump();
  }
  const auto message = [&](const char* tag) { return r.at(tag).at("error").at("message").get<std::string>(); };
  const std::string one =
      "task 'sum' takes one argument of type std::vector<int>: pass it as is or as a one-element array";
  EXPECT_NE(message("s").find(one), std::string::npos) << message("s");
  EXPECT_NE(message("s2").find(one), std::string::npos) << message("s2");
  EXPECT_NE(message("a").find("task 'add' takes 2 arguments (int, int): pass them as a JSON array"),
            std::string::npos)
      << message("a");
  EXPECT_NE(message("a2").find("takes 2 arguments (int, int), got 1"), std::string::npos) << message("a2");
  EXPECT_NE(message("q").find("task 'square' takes one argument of type int"), std::string::npos)
      << message("q");
}

TEST(CliArgsTest, Tasks_ShowParameterTypes) {
  temp_dir d;
  const auto table = run_runner(d, {"tasks"}, "");
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_NE(table.out.find("std::vector<int>"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("int, int"), std::string::npos) << table.out;

  const auto listed = run_runner(d, {"tasks", "--json"}, "");
  EXPECT_EQ(listed.exit_code, 0);
  std::map<std::string, json> tasks;
  for (const json& t : json::parse(listed.out)) tasks[t.at("name").get<std::string>()] = t;
  EXPECT_EQ(tasks.at("sum").at("params"), json::array({"std::vector<int>"}));
  EXPECT_EQ(tasks.at("add").at("params"), json::array({"int", "int"}));
  EXPECT_EQ(tasks.at("echo").at("params"), json::array({"nlohmann::json"}));
}

}  // namespace
