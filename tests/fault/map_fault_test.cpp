// A worker dying inside a map chunk, in process mode with every start method:
// what the chunk's inputs end as, and what is sent on. A chunk's outcome
// travels as bytes from the worker to the map engine (batch_outcome.hpp);
// these cases cover the paths that build it from a dead worker's partial
// report.
#include "fault_tasks.hpp"
#include "fault_util.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace {

using namespace procpool_fault;
using json = nlohmann::json;

class MapFaultTest : public StartMethodTest {};

/// starmap arguments: [x, at] for x in 0..n-1 (fault_segv_at crashes at x == at).
std::vector<json> crash_at(int n, int at) {
  std::vector<json> args;
  for (int x = 0; x < n; ++x) args.push_back(json::array({x, at}));
  return args;
}

// Without a time limit a chunk reports once, at its end: a worker that dies
// in it fails the whole chunk, and the first failure is the chunk's first input.
TEST_P(MapFaultTest, CrashInChunk_WholeChunkCrashed_OtherChunksDone) {
  procpool::pool pool(opts(2));
  try {
    (void)pool.starmap("fault_segv_at", crash_at(8, 5), 4);
    ADD_FAILURE() << "a map with a crashing input returned";
  } catch (const procpool::task_error& e) {
    EXPECT_EQ(e.tag(), "4");
    EXPECT_EQ(e.state(), procpool::task_state::crashed);
  }
  const procpool::pool_stats s = pool.stats();
  EXPECT_EQ(s.done, 4U);
  EXPECT_EQ(s.crashed, 4U);
  EXPECT_EQ(pool.map("square", std::vector<json>{3}), std::vector<json>{9});  // still serving
  pool.close();
  pool.join();
}

// With a time limit each input reports as it ends: the inputs before the
// crash keep their values, the crashing one ends crashed, and the rest of the
// chunk is sent on and runs.
TEST_P(MapFaultTest, CrashInProgressChunk_OnlyThatInputCrashed_RestRunsOn) {
  procpool::pool pool(opts(2).with_task_timeout(procpool_test::scaled(std::chrono::seconds(60))));
  try {
    (void)pool.starmap("fault_segv_at", crash_at(8, 5), 4);
    ADD_FAILURE() << "a map with a crashing input returned";
  } catch (const procpool::task_error& e) {
    EXPECT_EQ(e.tag(), "5");
    EXPECT_EQ(e.state(), procpool::task_state::crashed);
  }
  const procpool::pool_stats s = pool.stats();
  EXPECT_EQ(s.done, 7U);
  EXPECT_EQ(s.crashed, 1U);
  // Every input but the crashing one ran, with its value.
  const std::vector<json> values = pool.starmap("fault_segv_at", crash_at(5, -1), 4);
  EXPECT_EQ(values, (std::vector<json>{0, 1, 2, 3, 4}));
  pool.close();
  pool.join();
}

PROCPOOL_FAULT_FOR_EVERY_START_METHOD(MapFaultTest);

}  // namespace
