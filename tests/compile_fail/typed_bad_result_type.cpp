// Must NOT compile as a typed call: the task's return type can be written as
// JSON (the task registers) but has no from_json, so the caller cannot read it.
#include <procpool/procpool.hpp>

namespace {
struct write_only {
  int v = 0;
};
void to_json(nlohmann::json& j, const write_only& w) { j = w.v; }
write_only make_write_only(int v) { return write_only{v}; }
}  // namespace

PROCPOOL_TASK(make_write_only, make_write_only);

int main() {
  procpool::pool pool;
  return pool.apply("t1", make_write_only, 1).v;
}
