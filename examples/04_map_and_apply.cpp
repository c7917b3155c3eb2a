// 04_map_and_apply.cpp: the multiprocessing.Pool family of calls, and what a
// failing task looks like from the caller's side.
//
//   Python                               procpool
//   pool.apply(f, (7,))                  pool.apply("tag", "f", 7)
//   pool.map(f, xs)                      pool.map("f", xs)
//   pool.starmap(g, [(1, 2), (3, 4)])    pool.starmap("g", {[1, 2], [3, 4]})
//   pool.imap_unordered(f, xs)           pool.imap_unordered("f", begin, end)
//   an exception re-raised by .get()     procpool::task_error
//
// The same calls typed (section 7): pool.apply("tag", square, 7) returns an
// int, pool.map(square, xs) a std::vector<int>; the task is the function itself
// or the token PROCPOOL_TASK defines (add_task), and a wrong argument does not
// compile.
//
// Run: ./04_map_and_apply [--mode thread|process]   (default: process)
// Exits 0 only if every value and every error is the expected one.

#include <procpool/procpool.hpp>

#include <cstdlib>
#include <iostream>
#include <numeric>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

// Tasks take and return anything nlohmann::json can convert.
int square(int x) { return x * x; }
int add(int a, int b) { return a + b; }

// A task that throws: the tag ends `failed`, and the exception's type and
// message travel back to the caller.
int parse_int(const std::string& text) {
  std::size_t used = 0;
  int v = 0;
  try {
    v = std::stoi(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size()) throw std::invalid_argument("not a number: '" + text + "'");
  return v;
}

}  // namespace

PROCPOOL_TASK(square, square);
PROCPOOL_TASK(add, add);
PROCPOOL_TASK(parse_int, parse_int);

namespace {

int failures = 0;

void expect(bool ok, std::string_view what) {
  std::cout << (ok ? "  ok   " : "  FAIL ") << what << '\n';
  if (!ok) ++failures;
}

}  // namespace

int main(int argc, char** argv) {
  procpool::mode m = procpool::mode::process;
  if (argc == 3 && std::string_view(argv[1]) == "--mode") {
    m = std::string_view(argv[2]) == "thread" ? procpool::mode::thread : procpool::mode::process;
  } else if (argc != 1) {
    std::cerr << "usage: " << argv[0] << " [--mode thread|process]\n";
    return 2;
  }

  // Options can also be built with chainable setters.
  procpool::pool pool(procpool::options{}.with_mode(m).with_workers(4));

  // 1. apply: submit and wait for the value. apply() keeps nothing: the tag is
  //    free again once it returns (submit() is the call whose result stays).
  std::cout << "apply\n";
  const nlohmann::json seven = pool.apply("seven", "square", 7);
  expect(seven == 49, "apply(square, 7) == 49");
  expect(pool.apply("seven", "square", 8) == 64, "the tag \"seven\" is free again");

  // 2. map: one task per input, values in input order. map() tasks are untagged.
  std::cout << "map\n";
  std::vector<int> xs(10);
  std::iota(xs.begin(), xs.end(), 0);
  const std::vector<nlohmann::json> squares = pool.map("square", xs);
  bool in_order = squares.size() == xs.size();
  for (std::size_t i = 0; in_order && i < xs.size(); ++i) in_order = squares[i] == xs[i] * xs[i];
  expect(in_order, "map(square, 0..9) == 0, 1, 4, ..., 81");

  // 3. starmap: each input is the argument list of one call.
  std::cout << "starmap\n";
  const std::vector<nlohmann::json> pairs = {
      nlohmann::json::array({1, 2}), nlohmann::json::array({3, 4}), nlohmann::json::array({5, 6})};
  const std::vector<nlohmann::json> sums = pool.starmap("add", pairs);
  expect(sums == std::vector<nlohmann::json>{3, 7, 11},
         "starmap(add, [1,2] [3,4] [5,6]) == 3 7 11");

  // 4. imap_unordered: results in completion order, at most `window` in flight.
  //    Each result's tag is the input's position, so nothing gets lost.
  std::cout << "imap_unordered\n";
  std::vector<int> ys(20);
  std::iota(ys.begin(), ys.end(), 1);
  auto stream = pool.imap_unordered("square", ys.begin(), ys.end(), /*window=*/6);
  std::set<std::size_t> positions;
  bool values_ok = true;
  while (std::optional<procpool::result> r = stream.next()) {
    const std::size_t pos = std::stoul(r->tag);
    positions.insert(pos);
    values_ok &= r->ok() && pos < ys.size() && r->value == ys[pos] * ys[pos];
  }
  expect(positions.size() == ys.size() && values_ok, "imap_unordered yields each input once");

  // 5. A task that throws. get() (and apply) rethrow it as procpool::task_error,
  //    which says which tag failed, how, and what the remote exception was.
  std::cout << "errors\n";
  try {
    (void)pool.apply("bad-input", "parse_int", "12abc");
    expect(false, "apply(parse_int, \"12abc\") throws");
  } catch (const procpool::task_error& e) {
    std::cout << "  task_error: tag=" << e.tag() << " state=" << procpool::to_string(e.state())
              << " remote_type=" << e.remote_type() << " remote_message=" << e.remote_message()
              << "\n  what(): " << e.what() << '\n';
    expect(e.tag() == "bad-input", "task_error::tag()");
    expect(e.state() == procpool::task_state::failed, "task_error::state() == failed");
    expect(e.remote_type().find("invalid_argument") != std::string::npos,
           "remote_type() names std::invalid_argument");
    expect(e.remote_message() == "not a number: '12abc'", "remote_message() is what()");
    expect(e.code_value() == procpool::errc::task_failed, "code_value() == errc::task_failed");
  }

  //    Failures are data until you ask for the value: result() never throws for
  //    a task failure.
  const procpool::result bad = pool.submit("bad-2", "parse_int", "x").result();
  expect(bad.state == procpool::task_state::failed && bad.error_message == "not a number: 'x'",
         "handle.result() reports the failure without throwing");

  //    map() throws the first failure in input order, after every task finished.
  try {
    (void)pool.map("parse_int", std::vector<std::string>{"1", "two", "3", "four"});
    expect(false, "map over a bad input throws");
  } catch (const procpool::task_error& e) {
    expect(e.remote_message() == "not a number: 'two'", "map throws the first failure in order");
  }

  // 6. Refusals happen at the call, with a reason, and nothing is queued.
  (void)pool.submit("eight", "square", 8).get();  // submit() keeps the tag until take()
  try {
    (void)pool.submit("eight", "square", 8);
    expect(false, "a duplicate tag is refused");
  } catch (const procpool::error& e) {
    std::cout << "  refused: " << e.what() << '\n';
    expect(e.code_value() == procpool::errc::duplicate_tag, "errc::duplicate_tag");
  }
  try {
    (void)pool.submit("t", "no_such_task", 1);
    expect(false, "an unknown task is refused");
  } catch (const procpool::error& e) {
    std::cout << "  refused: " << e.what() << '\n';
    expect(e.code_value() == procpool::errc::unknown_task, "errc::unknown_task");
  }
  try {
    (void)pool.submit("t", "add", 1);  // add takes two arguments
    expect(false, "bad arguments are refused");
  } catch (const procpool::error& e) {
    std::cout << "  refused: " << e.what() << '\n';
    expect(e.code_value() == procpool::errc::bad_arguments, "errc::bad_arguments");
  }

  // 7. Typed calls: the function itself (or its token, name_task) instead of
  //    its name, C++ values in and out. Same submit/apply/map underneath.
  std::cout << "typed\n";
  procpool::typed_handle<int> h = pool.submit("typed-1", square, 6);
  expect(h.get() == 36, "submit(tag, square, 6).get() == 36, an int");
  expect(h.untyped().get() == 36, "untyped() is the JSON handle of the same tag");
  const int five = pool.apply("typed-2", add_task, 2, 3);
  expect(five == 5, "apply(tag, add_task, 2, 3) == 5");
  const std::vector<int> typed_squares = pool.map(square, xs);
  bool typed_in_order = typed_squares.size() == xs.size();
  for (std::size_t i = 0; typed_in_order && i < xs.size(); ++i) {
    typed_in_order = typed_squares[i] == xs[i] * xs[i];
  }
  expect(typed_in_order, "map(square, 0..9) as std::vector<int>, in order");
  try {
    (void)pool.map(parse_int_task, std::vector<std::string>{"1", "x"});
    expect(false, "a typed map over a bad input throws");
  } catch (const procpool::task_error& e) {
    expect(e.tag() == "1", "a typed map names the failing input's position");
  }
  // pool.apply("t", square, "7") would not compile: a string does not convert to int.

  pool.close();
  try {
    (void)pool.submit("late", "square", 1);
    expect(false, "submit after close() is refused");
  } catch (const procpool::error& e) {
    expect(e.code_value() == procpool::errc::closed, "errc::closed after close()");
  }
  pool.join();

  std::cout << (failures == 0 ? "OK" : "FAILED") << '\n';
  return failures == 0 ? 0 : 1;
}
