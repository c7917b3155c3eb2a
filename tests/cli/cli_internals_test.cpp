// Unit tests of the command line's internals: SHA-256 (FIPS 180-4 vectors),
// UTF-8 checks, the line reader (CRLF, BOM, last line, over-long lines), the
// strict task-line parser, the tag set, and the output formatters.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "input.hpp"
#include "output.hpp"
#include "run_console.hpp"
#include "sha256.hpp"
#include "tag_set.hpp"
#include "text.hpp"

namespace {

using namespace procpool::cli::detail;
using json = nlohmann::json;

// ---- SHA-256 ------------------------------------------------------------------------------

TEST(Sha256Test, FipsVectors_MatchTheStandard) {
  // FIPS 180-4 / NIST CSRC example values.
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnop"
                       "jklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST(Sha256Test, MillionA_MatchesTheStandard) {
  sha256 h;
  const std::string chunk(1000, 'a');
  for (int i = 0; i < 1000; ++i) h.update(chunk.data(), chunk.size());
  EXPECT_EQ(h.finish_hex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256Test, StreamingInOddPieces_EqualsOneShot) {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += static_cast<char>('a' + i % 26);
  const std::string expect = sha256_hex(text);
  for (std::size_t piece : {1U, 3U, 55U, 56U, 63U, 64U, 65U, 127U}) {
    sha256 h;
    for (std::size_t off = 0; off < text.size(); off += piece) {
      h.update(text.data() + off, std::min(piece, text.size() - off));
    }
    EXPECT_EQ(h.finish_hex(), expect) << "piece " << piece;
  }
  // Messages around the padding boundary (55, 56, 64 bytes) one-shot vs streamed.
  for (std::size_t n : {55U, 56U, 57U, 63U, 64U, 65U}) {
    const std::string m(n, 'x');
    sha256 h;
    for (char c : m) h.update(&c, 1);
    EXPECT_EQ(h.finish_hex(), sha256_hex(m)) << n;
  }
}

// ---- the progress line's width ---------------------------------------------------------------

TEST(FitToWidthTest, UnknownOrWideTerminal_KeepsEveryPart) {
  const std::vector<std::string> parts{"procpool", "[##..] 50%", "5/10", "", "ETA 0:03"};
  const std::vector<std::size_t> drop{1, 4, 0};
  EXPECT_EQ(fit_to_width(parts, drop, 0), "procpool [##..] 50% 5/10 ETA 0:03");
  EXPECT_EQ(fit_to_width(parts, drop, 80), "procpool [##..] 50% 5/10 ETA 0:03");
}

TEST(FitToWidthTest, NarrowTerminal_DropsTheLeastImportantPartsFirst) {
  const std::vector<std::string> parts{"procpool", "[##..] 50%", "5/10", "ETA 0:03", "failed 2"};
  const std::vector<std::size_t> drop{1, 3, 0};
  // 42 columns as a whole: a 43-column terminal shows it all, a 42-column one not.
  EXPECT_EQ(fit_to_width(parts, drop, 43), "procpool [##..] 50% 5/10 ETA 0:03 failed 2");
  EXPECT_EQ(fit_to_width(parts, drop, 42), "procpool 5/10 ETA 0:03 failed 2");
  EXPECT_EQ(fit_to_width(parts, drop, 31), "procpool 5/10 failed 2");
  EXPECT_EQ(fit_to_width(parts, drop, 22), "5/10 failed 2");
  EXPECT_EQ(fit_to_width(parts, drop, 13), "5/10 failed ");
}

TEST(FitToWidthTest, EveryWidth_GivesOneLineNarrowerThanTheTerminal) {
  const std::vector<std::string> parts{"procpool", "[####################] 100%", "123456/123456",
                                       "9999.9/s", "ETA 1:00:00", "failed 17"};
  const std::vector<std::size_t> drop{1, 3, 4, 0};
  for (std::size_t width = 1; width <= 120; ++width) {
    const std::string line = fit_to_width(parts, drop, width);
    EXPECT_LT(line.size(), width) << width;
    EXPECT_EQ(line.find('\n'), std::string::npos) << width;
    if (width > 24) {
      EXPECT_NE(line.find("123456/123456 "), std::string::npos) << width;
      EXPECT_NE(line.find(" failed 17"), std::string::npos) << width;
    }
  }
  EXPECT_EQ(fit_to_width(parts, drop, 10), "123456/12");
}

// ---- UTF-8 and JSON strings ------------------------------------------------------------------

TEST(Utf8Test, FindInvalid_RejectsOverlongSurrogatesAndTruncation) {
  EXPECT_EQ(find_invalid_utf8("plain ascii"), std::string_view::npos);
  EXPECT_EQ(find_invalid_utf8("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80"),
            std::string_view::npos);
  EXPECT_EQ(find_invalid_utf8("ab\xC0\xAF"), 2U);         // overlong '/'
  EXPECT_EQ(find_invalid_utf8("\xED\xA0\x80"), 0U);       // UTF-16 surrogate
  EXPECT_EQ(find_invalid_utf8("x\xF4\x90\x80\x80"), 1U);  // above U+10FFFF
  EXPECT_EQ(find_invalid_utf8("abc\xE2\x82"), 3U);        // truncated
  EXPECT_EQ(find_invalid_utf8("\x80"), 0U);               // lone continuation
  EXPECT_EQ(find_invalid_utf8("12345678\xFF"), 8U);       // after the 8-byte fast path
}

TEST(Utf8Test, JsonString_EscapesAndRepairs) {
  std::string out;
  append_json_string(out, std::string("a\"b\\c\n\t\x01\xC3\xA9\xFF", 11));
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\n\\t\\u0001\xC3\xA9\\ufffd\"");
  EXPECT_FALSE(json::parse(out, nullptr, false).is_discarded());
  std::string repaired;
  append_utf8_repaired(repaired, "ok\xFFok");
  EXPECT_EQ(repaired, "ok\xEF\xBF\xBDok");
}

// ---- the line reader ------------------------------------------------------------------------

struct read_all {
  std::vector<line_reader::item> items;
  std::vector<std::string> texts;
};

read_all read_lines(const std::string& data, std::size_t max) {
  int p[2];
  EXPECT_EQ(::pipe(p), 0);
  std::thread writer([&] {
    std::size_t off = 0;
    while (off < data.size()) {
      const ssize_t n =
          ::write(p[1], data.data() + off, std::min<std::size_t>(4096, data.size() - off));
      if (n <= 0) break;
      off += static_cast<std::size_t>(n);
    }
    ::close(p[1]);
  });
  read_all r;
  line_reader reader(p[0], max);
  for (;;) {
    line_reader::item it = reader.next();
    if (it.st == line_reader::status::end) break;
    r.texts.emplace_back(it.text);
    r.items.push_back(it);
  }
  writer.join();
  ::close(p[0]);
  return r;
}

TEST(LineReaderTest, CrlfBomAndLastLine_FollowTheDocumentedRules) {
  const read_all r =
      read_lines("\xEF\xBB\xBF{\"a\":1}\r\n\r\nsecond\n\xEF\xBB\xBFthird\nlast", 100);
  ASSERT_EQ(r.items.size(), 5U);
  EXPECT_EQ(r.texts[0], "{\"a\":1}");  // BOM and CR dropped
  EXPECT_EQ(r.texts[1], "");           // an empty CRLF line
  EXPECT_EQ(r.texts[2], "second");
  EXPECT_EQ(r.texts[3], "\xEF\xBB\xBFthird");  // a BOM later on is data
  EXPECT_EQ(r.texts[4], "last");               // no newline at the end: still a line
  for (std::size_t i = 0; i < r.items.size(); ++i) {
    EXPECT_EQ(r.items[i].number, i + 1);
    EXPECT_EQ(r.items[i].st, line_reader::status::line);
  }
}

TEST(LineReaderTest, OverLongLines_AreReportedWithoutEndingTheInput) {
  std::string data = "short\n" + std::string(10'000'000, 'x') + "\nok\n" + std::string(150, 'y') +
                     "\n" + std::string(100, 'z') + "\r\n" + std::string(5000, 'w');
  const read_all r = read_lines(data, 100);
  ASSERT_EQ(r.items.size(), 6U);
  EXPECT_EQ(r.items[0].st, line_reader::status::line);
  EXPECT_EQ(r.items[1].st, line_reader::status::too_long);
  EXPECT_EQ(r.items[1].number, 2U);
  EXPECT_EQ(r.texts[2], "ok");
  EXPECT_EQ(r.items[3].st, line_reader::status::too_long);
  EXPECT_EQ(r.items[4].st, line_reader::status::line);  // exactly the limit, CRLF
  EXPECT_EQ(r.texts[4].size(), 100U);
  EXPECT_EQ(r.items[5].st, line_reader::status::too_long);  // last line, no newline
  EXPECT_EQ(r.items[5].number, 6U);
}

TEST(LineReaderTest, InterruptFd_StopsABlockedRead) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  int stop[2];
  ASSERT_EQ(::pipe(stop), 0);
  ASSERT_EQ(::write(p[1], "one\ntwo", 7), 7);
  line_reader reader(p[0], 100, stop[0]);
  EXPECT_EQ(reader.next().text, "one");
  ASSERT_EQ(::write(stop[1], "x", 1), 1);  // the input stays open: only the interrupt ends it
  EXPECT_EQ(reader.next().st, line_reader::status::interrupted);
  for (int fd : {p[0], p[1], stop[0], stop[1]}) ::close(fd);
}

// ---- the task-line parser ---------------------------------------------------------------------

struct parsed {
  bool ok = false;
  task_line line;
  line_error err;
  std::optional<std::string> tag;
};

parsed parse(std::string_view text) {
  static line_parser p;
  parsed r;
  r.ok = p.parse(text, r.line, r.err, r.tag);
  return r;
}

TEST(LineParserTest, ValidLine_FillsEveryField) {
  const parsed r =
      parse(R"( {"tag":"a1","task":"exec","args":["gzip","-9"],"timeout":1.5,"retries":2} )");
  ASSERT_TRUE(r.ok) << r.err.message;
  EXPECT_EQ(r.line.tag, "a1");
  EXPECT_EQ(r.line.task, "exec");
  EXPECT_TRUE(r.line.has_args);
  EXPECT_EQ(r.line.args, json::parse(R"(["gzip","-9"])"));
  EXPECT_EQ(r.line.timeout, std::chrono::milliseconds{1500});
  EXPECT_EQ(r.line.retries, 2);
}

TEST(LineParserTest, Values_MatchNlohmannsReading) {
  for (std::string_view args :
       {R"([1,-2,3.5,1e3,-0,18446744073709551615,-9223372036854775808,123456789012345678901234])",
        R"({"k":{"n":[true,false,null,"\u00e9\ud83d\ude00\n\"/"]}})", R"("")", R"([])", R"({})",
        R"(1E-400)", R"(-1.5e+2)"}) {
    const std::string line = R"({"tag":"t","task":"echo","args":)" + std::string(args) + "}";
    const parsed r = parse(line);
    ASSERT_TRUE(r.ok) << args << ": " << r.err.message;
    EXPECT_EQ(r.line.args, json::parse(args)) << args;
    EXPECT_EQ(r.line.args.dump(), json::parse(args).dump()) << args;
  }
}

TEST(LineParserTest, BadLines_AreRejectedWithTypeAndTag) {
  struct bad_case {
    std::string text;
    std::string type;
    std::optional<std::string> tag;
  };
  const std::string deep =
      R"({"tag":"d","task":"echo","args":)" + std::string(200, '[') + std::string(200, ']') + "}";
  const std::vector<bad_case> cases = {
      {"", "empty_line", {}},
      {"  \t ", "empty_line", {}},
      {"{\"tag\":", "invalid_json", {}},
      {"{\"tag\":\"a\",\"task\":\"echo\"} x", "trailing_garbage", {}},
      {"{\"tag\":\"a\",\"task\":\"echo\"}{}", "trailing_garbage", {}},
      {"{\"tag\":\"a\",\"task\":\"echo\",\"args\":\"\xFF\"}", "invalid_utf8", {}},
      {deep, "too_deep", {}},
      {"{\"tag\":\"a\",\"task\":\"echo\",\"args\":NaN}", "invalid_number", {}},
      {"{\"tag\":\"a\",\"task\":\"echo\",\"args\":-Infinity}", "invalid_number", {}},
      {"{\"tag\":\"a\",\"task\":\"echo\",\"args\":infinity}", "invalid_number", {}},
      {"{\"tag\":\"a\",\"task\":\"echo\",\"args\":1e999}", "invalid_number", {}},
      {"{\"tag\":\"a\",\"tag\":\"b\",\"task\":\"echo\"}", "duplicate_key", {}},
      {"{\"tag\":\"a\",\"task\":\"echo\",\"args\":{\"x\":1,\"x\":2}}", "duplicate_key", {}},
      {"{\"tag\":\"a\",\"task\":\"echo\",\"zz\":1,\"zz\":2}", "duplicate_key", {}},
      {"[1,2]", "not_an_object", {}},
      {"{\"task\":\"echo\"}", "bad_tag", {}},
      {"{\"tag\":5,\"task\":\"echo\"}", "bad_tag", {}},
      {"{\"tag\":\"\",\"task\":\"echo\"}", "bad_tag", {}},
      {"{\"tag\":\"a\"}", "bad_task", "a"},
      {"{\"tag\":\"a\",\"task\":7}", "bad_task", "a"},
      {"{\"tag\":\"a\",\"task\":\"\"}", "bad_task", "a"},
      {"{\"tag\":\"a\",\"task\":\"echo\",\"timeout\":-1}", "bad_field", "a"},
      {"{\"tag\":\"a\",\"task\":\"echo\",\"timeout\":\"5\"}", "bad_field", "a"},
      {"{\"tag\":\"a\",\"task\":\"echo\",\"retries\":1.5}", "bad_field", "a"},
      {"{\"tag\":\"a\",\"task\":\"echo\",\"retries\":-1}", "bad_field", "a"},
      {"{\"tag\":\"a\",\"task\":\"echo\",\"arg\":[1]}", "unknown_key", "a"},
      {"{\"tag\":\"a\",\"task\":\"echo\",\"args\":\"\\ud800\"}", "invalid_json", {}},
      {"{\"tag\":\"a\",\"task\":\"echo\",\"args\":\"tab\there\"}", "invalid_json", {}},
      {"{\"tag\":\"a\",\"task\":\"echo\",\"args\":01}", "invalid_json", {}},
      {"{\"tag\":\"a\",\"task\":\"echo\",\"args\":[1,]}", "invalid_json", {}},
      {"{'tag':'a'}", "invalid_json", {}},
  };
  for (const bad_case& c : cases) {
    const parsed r = parse(c.text);
    EXPECT_FALSE(r.ok) << c.text;
    EXPECT_EQ(r.err.type, c.type) << c.text << " -> " << r.err.message;
    EXPECT_FALSE(r.err.message.empty()) << c.text;
    EXPECT_EQ(r.tag, c.tag) << c.text;
  }
}

TEST(LineParserTest, BadLines_KeepTheirMessages) {
  // The exact wording (and column) of each kind of rejection, as earlier
  // versions wrote it; nlohmann's parser finds the errors, json_errors.cpp
  // words them.
  struct msg_case {
    std::string text;
    std::string type;
    std::string message;
  };
  const std::string head = R"({"tag":"a","task":"echo","args":)";
  const std::vector<msg_case> cases = {
      {head + "}", "invalid_json", R"(malformed JSON at column 33: expected a value, got "}")"},
      {R"({"tag":)", "invalid_json", "malformed JSON: unexpected end of line; expected a value"},
      {R"({"tag":"a","task":"echo",})", "invalid_json",
       R"(malformed JSON at column 26: expected a string, got "}")"},
      {R"({"tag" "a"})", "invalid_json",
       R"(malformed JSON at column 8: expected ':', got "\"a\"}")"},
      {R"({"tag":"a" "task":"echo"})", "invalid_json",
       R"(malformed JSON at column 12: expected ',' or '}', got "\"task\":\"echo")"},
      {head + "[1 2]}", "invalid_json",
       R"(malformed JSON at column 36: expected ',' or ']', got "2]}")"},
      {head + R"("ab)", "invalid_json",
       "malformed JSON: unexpected end of line; unterminated string"},
      {head + "\"a\tb\"}", "invalid_json",
       R"(malformed JSON at column 35: control character in a string (escape it), got "\tb\"}")"},
      {head + R"("\x"})", "invalid_json",
       R"(malformed JSON at column 35: invalid escape, got "x\"}")"},
      {head + R"("\)", "invalid_json", "malformed JSON: unexpected end of line; unterminated string"},
      {head + R"("\u12G4"})", "invalid_json",
       R"(malformed JSON at column 38: expected 4 hex digits after \u, got "G4\"}")"},
      {head + R"("\u12"})", "invalid_json",
       R"(malformed JSON at column 38: expected 4 hex digits after \u, got "\"}")"},
      {head + R"("\u12)", "invalid_json",
       R"(malformed JSON at column 36: expected 4 hex digits after \u, got "12")"},
      {head + R"("\ud800x"})", "invalid_json",
       R"(malformed JSON at column 40: a high surrogate \u escape must be followed by a low one)"},
      {head + R"("\ud800\u0041"})", "invalid_json",
       R"(malformed JSON at column 46: a high surrogate \u escape must be followed by a low one)"},
      {head + R"("\udc00"})", "invalid_json",
       R"(malformed JSON at column 40: a lone low surrogate \u escape)"},
      {head + "-x}", "invalid_json", R"(malformed JSON at column 34: expected a digit, got "x}")"},
      {head + "1.}", "invalid_json",
       R"(malformed JSON at column 35: expected a digit after '.', got "}")"},
      {head + "1e+}", "invalid_json",
       R"(malformed JSON at column 36: expected a digit in the exponent, got "}")"},
      {head + "tru}", "invalid_json",
       R"(malformed JSON at column 33: expected a value, got "tru}")"},
      {head + "-Infinity}", "invalid_number", "NaN and Infinity are not JSON numbers (column 33)"},
      {head + "[nan]}", "invalid_number", "NaN and Infinity are not JSON numbers (column 34)"},
      {head + "1e999}", "invalid_number", "number 1e999 is out of range"},
      {head + "0." + std::string(400, '0') + "1}", "invalid_number",
       "number 0." + std::string(400, '0') + "1 is out of range"},
      {R"({"tag":"a","task":"echo"} x)", "trailing_garbage",
       "unexpected text after the JSON value at column 27"},
      {std::string(R"({"tag":"a","task":"echo"})") + '\0' + "x", "trailing_garbage",
       "unexpected text after the JSON value at column 26"},
      {"\xEF\xBB\xBF{}", "invalid_json",
       "malformed JSON at column 1: expected a value, got \"\xEF\xBB\xBF{}\""},
      {R"({"tag":"a","tag":"b","task":"echo"})", "duplicate_key",
       R"(duplicate key "tag" in an object)"},
      {head + R"({"x":1,"x" 2}})", "invalid_json",
       R"(malformed JSON at column 44: expected ':', got "2}}")"},
      {head + R"({"x":1,"x":oops}})", "duplicate_key", R"(duplicate key "x" in an object)"},
      {head + std::string(129, '[') + std::string(129, ']') + "}", "too_deep",
       "nesting deeper than 128 levels"},
      {R"([1,"two"])", "not_an_object", "a task line must be a JSON object, got array"},
      {R"({"tag":"a","task":"echo","arg":1})", "unknown_key",
       R"(unknown key "arg" (a task line has "tag", "task", "args", "timeout", "retries"))"},
      {R"({"tag":"a","task":"echo","timeout":"5"})", "bad_field",
       R"("timeout" must be a number of seconds, got string)"},
      {R"({"tag":"a","task":"echo","retries":1001})", "bad_field",
       R"("retries" must be an integer from 0 to 1000, got 1001)"},
  };
  for (const msg_case& c : cases) {
    const parsed r = parse(c.text);
    EXPECT_FALSE(r.ok) << c.text;
    EXPECT_EQ(r.err.type, c.type) << c.text;
    EXPECT_EQ(r.err.message, c.message) << c.text;
  }
  // A number too small for a double is 0, not an error (a negative exponent).
  EXPECT_TRUE(parse(head + "1e-400}").ok);
}

TEST(LineParserTest, DepthAtTheCap_IsAccepted) {
  // The task line itself is level 1, so args can nest max_json_depth - 1 deep.
  const std::size_t n = max_json_depth - 1;
  const std::string line =
      R"({"tag":"d","task":"echo","args":)" + std::string(n, '[') + std::string(n, ']') + "}";
  EXPECT_TRUE(parse(line).ok);
  const std::string over = R"({"tag":"d","task":"echo","args":)" + std::string(n + 1, '[') +
                           std::string(n + 1, ']') + "}";
  EXPECT_EQ(parse(over).err.type, "too_deep");
}

TEST(LineParserTest, TimeoutSeconds_RoundUpToMilliseconds) {
  EXPECT_EQ(seconds_to_ms(0), std::chrono::milliseconds{0});
  EXPECT_EQ(seconds_to_ms(0.0001), std::chrono::milliseconds{1});
  EXPECT_EQ(seconds_to_ms(1.5), std::chrono::milliseconds{1500});
  EXPECT_EQ(seconds_to_ms(2.0001), std::chrono::milliseconds{2001});
}

// ---- the tag set
// ---------------------------------------------------------------------------------

TEST(TagSetTest, ManyTags_AreFoundWithTheirValues) {
  tag_set s;
  for (std::uint64_t i = 0; i < 200'000; ++i) {
    const std::string t = "tag-" + std::to_string(i);
    ASSERT_EQ(s.find(t), nullptr);
    s.insert(t, i + 1);
  }
  EXPECT_EQ(s.size(), 200'000U);
  for (std::uint64_t i = 0; i < 200'000; i += 7) {
    std::uint64_t* v = s.find("tag-" + std::to_string(i));
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(*v, i + 1);
  }
  EXPECT_EQ(s.find("tag-200000"), nullptr);
  EXPECT_EQ(s.find(""), nullptr);
  const std::string long_tag(4096, 'L');
  s.insert(long_tag, 9);
  ASSERT_NE(s.find(long_tag), nullptr);
  *s.find(long_tag) = 10;
  EXPECT_EQ(*s.find(long_tag), 10U);
}

// ---- output
// ----------------------------------------------------------------------------------------

TEST(OutputTest, ResultLine_HasTheDocumentedKeys) {
  procpool::result r;
  r.tag = "a\"1";
  r.state = procpool::task_state::done;
  r.value = json{{"exit_code", 0}, {"stdout", "hi\n"}, {"stderr", ""}, {"truncated", false}};
  r.attempts = 1;
  r.worker_pid = 42;
  r.started_at =
      std::chrono::system_clock::time_point(std::chrono::milliseconds{1'700'000'000'123});
  r.finished_at = r.started_at + std::chrono::microseconds{2500};
  std::string out;
  format_result(out, r, 7, /*is_exec=*/true);
  ASSERT_EQ(out.back(), '\n');
  const json j = json::parse(out);
  EXPECT_EQ(j["tag"], "a\"1");
  EXPECT_EQ(j["state"], "done");
  EXPECT_EQ(j["value"]["stdout"], "hi\n");
  EXPECT_EQ(j["exit_code"], 0);
  EXPECT_EQ(j["attempts"], 1);
  EXPECT_EQ(j["worker_pid"], 42);
  EXPECT_EQ(j["started_at"], "2023-11-14T22:13:20.123Z");
  EXPECT_DOUBLE_EQ(j["elapsed_ms"].get<double>(), 2.5);
  EXPECT_EQ(j["line"], 7);
  EXPECT_FALSE(j.contains("error"));
  EXPECT_FALSE(j.contains("signal"));
}

TEST(OutputTest, FailedExec_CarriesExitCodeOrSignal) {
  procpool::result r;
  r.tag = "x";
  r.state = procpool::task_state::failed;
  r.error_type = "procpool::cli::command_failed";
  r.error_message = "exited with code 3; stderr: boom";
  r.error_code = procpool::errc::task_failed;
  r.value = {{"exit_code", 3}};  // the failure's detail: fields, not the message text
  std::string out;
  format_result(out, r, 1, true);
  json j = json::parse(out);
  EXPECT_EQ(j["exit_code"], 3);
  EXPECT_EQ(j["error"]["type"], "procpool::cli::command_failed");
  EXPECT_FALSE(j.contains("started_at"));  // never started: no times, no pid
  EXPECT_FALSE(j.contains("worker_pid"));

  r.error_message = "was killed by signal 9 (SIGKILL)";
  r.value = {{"signal", 9}};
  out.clear();
  format_result(out, r, 1, true);
  j = json::parse(out);
  EXPECT_EQ(j["signal"], 9);
  EXPECT_FALSE(j.contains("exit_code"));

  // The same detail from a task that is not exec means nothing.
  out.clear();
  format_result(out, r, 1, false);
  EXPECT_FALSE(json::parse(out).contains("signal"));

  // Nor does the message text alone: only the structured detail counts.
  r.value = nullptr;
  out.clear();
  format_result(out, r, 1, true);
  EXPECT_FALSE(json::parse(out).contains("signal"));
}

TEST(OutputTest, RejectedLine_HasNullTagWhenUnknown) {
  std::string out;
  format_rejected(out, std::nullopt, "invalid_json", "bad", 3);
  const json j = json::parse(out);
  EXPECT_TRUE(j["tag"].is_null());
  EXPECT_EQ(j["state"], "rejected");
  EXPECT_EQ(j["error"]["type"], "invalid_json");
  EXPECT_EQ(j["line"], 3);
}

TEST(OutputTest, JoblogLine_HasNineColumnsAndQuotedCommand) {
  const std::vector<std::string> argv = {"printf", "%s", "a b", "it's", "$(x)"};
  const std::string cmd = joblog_command("exec", &argv, nullptr);
  EXPECT_EQ(cmd, "printf %s 'a b' 'it'\\''s' '$(x)'");
  procpool::result r;
  r.tag = "t";
  r.state = procpool::task_state::failed;
  r.error_type = "procpool::cli::command_failed";
  r.error_message = "exited with code 2";
  r.value = {{"exit_code", 2}};
  r.started_at = std::chrono::system_clock::time_point(std::chrono::milliseconds{1'000'500});
  r.finished_at = r.started_at + std::chrono::milliseconds{250};
  std::string line;
  format_joblog(line, r, 12, true, "a\tb");
  EXPECT_EQ(line, "12\t:\t1000.500\t0.250\t0\t0\t2\t0\ta\\tb\n");
  EXPECT_EQ(std::count(joblog_header.begin(), joblog_header.end(), '\t'), 8);
}

TEST(OutputTest, CleanMessage_DropsRepeatedPrefixesAndSuffixes) {
  EXPECT_EQ(clean_message(
                "pool::submit: tag 'a': task 'sleep' argument 1: [json.exception.type_error.302] "
                "bad: arguments do not match: arguments do not match",
                "a", "arguments do not match"),
            "task 'sleep' argument 1: bad");
}

}  // namespace
