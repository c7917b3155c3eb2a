// A map chunk in the worker: inputs read one by one from the message's bytes
// and outcomes written straight into the result's bytes. A task whose
// parameters and result are flat (task_entry::invoke_flat) runs without a JSON
// DOM; any other input is decoded and run through task_entry::invoke, with
// the same outcome.
#include "worker_internal.hpp"

#include <procpool/shared/detail/codec.hpp>
#include <procpool/shared/detail/msgpack_flat.hpp>

#include <utility>

namespace procpool::detail {
namespace {

/// Appends the failure item [1, type, message], plus code and detail when the
/// task gave them.
void put_failure_item(std::vector<std::uint8_t>& out, failure f) {
  nlohmann::json o = nlohmann::json::array({1, std::move(f.type), std::move(f.message)});
  if (f.code != 0) {
    o.push_back(f.code);
    o.push_back(std::move(f.detail));
  }
  encode_into(o, out);
}

/// Runs one input (the positional argument array `input` holds) and appends
/// its outcome item to `out`.
void run_input(const task_entry& entry, task_context& ctx, std::span<const std::uint8_t> input,
               std::vector<std::uint8_t>& out) {
  const std::size_t mark = out.size();
  try {
    out.push_back(0x92);  // [0, value]
    out.push_back(0x00);
    msgpack::reader in(input);
    if (entry.invoke_flat && entry.invoke_flat(ctx, in, out)) return;
    encode_into(entry.invoke(ctx, decode(input)), out);
  } catch (...) {
    out.resize(mark);
    put_failure_item(out, current_failure());
  }
}

/// Marks input j's start in the row (its own time limit counts from here).
void mark_input_start(const worker_config& c, worker_row& row, std::uint32_t j) noexcept {
  row.claim_mono_ns.store(monotonic_ns(), std::memory_order_relaxed);
  row.batch_item.store(j, std::memory_order_release);
  wake_collector(c.header, c.wake_fd);
}

/// Publishes one input's outcome at once (`item`: [index, outcome item]).
void publish_item(const worker_config& c, const claimed_message& m, std::uint64_t started,
                  const std::vector<std::uint8_t>& item) {
  outgoing_result r{};
  r.task_id = m.task_id;
  r.state = result_batch_item;
  r.attempt = m.attempt;
  r.started_ns = started;
  r.finished_ns = realtime_ns();
  r.value = item;
  publish(c.header, c.index, r);
}

}  // namespace

std::vector<std::uint8_t> run_batch(const worker_config& c, worker_row& row, const claimed_message& m,
                                    const task_entry& entry, task_context& ctx) {
  msgpack::reader in(m.args);
  std::size_t n = 0;
  if (!in.array_header(n)) throw error(errc::payload_invalid, "worker: a batch's inputs are not an array");
  const bool progress = (m.flags & message_batch_progress) != 0;
  // Into this thread's scratch buffer: no chunk-sized allocation per chunk.
  std::vector<std::uint8_t> out = thread_scratch().take();
  msgpack::put_array_header(out, progress ? 0 : n);
  std::vector<std::uint8_t> item;
  for (std::uint32_t j = 0; j < n; ++j) {
    const std::uint8_t* const start = in.pos();
    if (!in.skip()) throw error(errc::payload_invalid, "worker: batch input " + std::to_string(j) + " is not MessagePack");
    const std::span<const std::uint8_t> input(start, in.pos());
    if (!progress) {
      run_input(entry, ctx, input, out);
      continue;
    }
    if (j > 0) mark_input_start(c, row, j);
    const std::uint64_t started = realtime_ns();
    item.clear();
    msgpack::put_array_header(item, 2);
    msgpack::put_uint(item, j);
    run_input(entry, ctx, input, item);
    publish_item(c, m, started, item);
  }
  return out;
}

}  // namespace procpool::detail
