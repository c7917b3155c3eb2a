// pool::map / starmap and the typed map: inputs travel in chunks (one
// message, one result each); results come back in input order. A map_codec
// turns inputs into chunk bytes and reads the values back; the JSON map checks
// every input before any is sent.
#include "arguments.hpp"
#include "batch_outcome.hpp"
#include "front/pool_front.hpp"
#include "front/task_record.hpp"

#include <procpool/shared/detail/codec.hpp>
#include <procpool/shared/detail/layout.hpp>
#include <procpool/shared/detail/msgpack_flat.hpp>

#include <algorithm>
#include <deque>
#include <limits>
#include <optional>

namespace procpool::detail {
namespace {

struct chunk {
  std::size_t begin, end;
  std::vector<std::uint8_t> payload;
};

/// The positional argument arrays of `inputs`; throws the first bad one.
std::vector<nlohmann::json> check_inputs(const task_entry& e, const std::vector<nlohmann::json>& inputs,
                                         bool positional, const std::string& where) {
  std::vector<nlohmann::json> pos(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const auto item = [&] { return where + ": input " + std::to_string(i); };
    if (positional && !inputs[i].is_array()) {
      throw error(errc::bad_arguments, item() + ": task '" + e.name + "' needs an array of positional arguments");
    }
    if (!positional) {
      pos[i] = positional_args(e, inputs[i], item);  // checked
      continue;
    }
    try {
      e.check(inputs[i]);
    } catch (const error& ex) {
      throw error(errc::bad_arguments, item() + ": " + ex.what());
    }
    pos[i] = inputs[i];
  }
  return pos;
}

/// The JSON map's codec: checked positional arrays in, JSON values out.
class json_codec final : public map_codec {
 public:
  explicit json_codec(std::vector<nlohmann::json> pos) : pos_(std::move(pos)), values_(pos_.size()) {}

  [[nodiscard]] std::size_t size() const override { return pos_.size(); }
  void encode_inputs(std::size_t begin, std::size_t end, std::vector<std::uint8_t>& out) const override {
    for (std::size_t i = begin; i < end; ++i) encode_into(pos_[i], out);
  }
  void take_value(std::size_t index, std::span<const std::uint8_t> value) override { values_[index] = decode(value); }
  [[nodiscard]] std::vector<nlohmann::json> take_values() { return std::move(values_); }

 private:
  std::vector<nlohmann::json> pos_;
  std::vector<nlohmann::json> values_;
};

/// The chunk of inputs [b, end): their MessagePack array, written element by
/// element (no chunk-sized copy of the inputs is built first).
std::vector<std::uint8_t> encode_range(const map_codec& codec, std::size_t b, std::size_t end) {
  std::vector<std::uint8_t> out;
  msgpack::put_array_header(out, end - b);
  codec.encode_inputs(b, end, out);
  return out;
}

/// Encodes the codec's inputs as chunks of at most `chunksize` inputs; a
/// chunk over `max_payload` is split in halves.
std::vector<chunk> encode_chunks(const map_codec& codec, std::size_t chunksize, std::size_t max_payload,
                                 const std::string& where) {
  std::vector<chunk> chunks;
  std::vector<std::pair<std::size_t, std::size_t>> todo;
  const std::size_t n = codec.size();
  for (std::size_t b = 0; b < n; b += chunksize) todo.emplace_back(b, std::min(n, b + chunksize));
  std::reverse(todo.begin(), todo.end());
  while (!todo.empty()) {
    const auto [b, end] = todo.back();
    todo.pop_back();
    std::vector<std::uint8_t> payload = encode_range(codec, b, end);
    if (payload.size() > max_payload) {
      if (end - b == 1) {
        throw error(errc::too_large, where + ": input " + std::to_string(b) + " encodes to " +
                                         std::to_string(payload.size()) + " bytes, over options::max_payload_bytes (" +
                                         std::to_string(max_payload) + ")");
      }
      const std::size_t mid = b + (end - b) / 2;
      todo.emplace_back(mid, end);
      todo.emplace_back(b, mid);
      continue;
    }
    chunks.push_back({b, end, std::move(payload)});
  }
  return chunks;
}

/// One map/starmap call: sends chunks, collects their outcomes in input
/// order, sends on what a cut-short chunk did not run.
class map_run {
 public:
  map_run(pool_front& front, const task_entry& e, map_codec& codec)
      : front_(front), e_(e), codec_(codec), sent_once_(codec.size(), false) {}

  void send(std::size_t b, std::size_t end, std::vector<std::uint8_t> payload) {
    prepared_task p;
    p.tag = "map[" + std::to_string(b) + ".." + std::to_string(end) + ")";
    p.task = e_.name;
    p.payload = std::move(payload);
    submit_request req;
    req.tag = p.tag;
    req.task = e_.name;
    req.keyed = false;
    req.flags = message_batch;
    req.items = end - b;
    // Inputs sent again (a halved chunk, the rest of a cut-short one) were
    // counted as submitted the first time.
    req.counts_as_submitted = !sent_once_[b];
    for (std::size_t i = b; i < end; ++i) sent_once_[i] = true;
    pending_.push_back(in_flight{b, end, front_.submit_record(std::move(p), std::move(req))});
  }

  /// Waits for every chunk, the values given to the codec; the first failure
  /// in input order thrown as task_error.
  void collect() {
    while (!pending_.empty()) {
      in_flight c = std::move(pending_.front());
      pending_.pop_front();
      // The chunk's record is this call's alone: its outcome (every value of
      // the chunk) is moved out, not copied.
      settle(c.begin, c.end, await_result_last(std::move(c.record)));
    }
    if (first_failure_) {
      const procpool::result& f = *first_failure_;
      throw task_error(f.tag, f.state, f.error_type, f.error_message, f.worker_pid);
    }
  }

 private:
  struct in_flight {
    std::size_t begin, end;
    std::shared_ptr<task_record> record;
  };

  void resend(std::size_t lo, std::size_t hi) { send(lo, hi, encode_range(codec_, lo, hi)); }

  void fail_at(std::size_t i, procpool::result f) {
    if (i >= first_index_) return;
    first_index_ = i;
    f.tag = std::to_string(i);
    first_failure_ = std::move(f);
  }

  /// A failure item [1, type, message(, code, detail)] of input i.
  void take_failure(std::size_t i, std::span<const std::uint8_t> item, const procpool::result& r) {
    const nlohmann::json o = decode(item);
    if (!o.is_array() || o.size() < 3) return;
    procpool::result f = r;
    f.state = task_state::failed;
    f.value = o.size() >= 5 ? o[4] : nlohmann::json();
    f.error_type = o[1].get<std::string>();
    f.error_message = o[2].get<std::string>();
    f.error_code = o.size() >= 5 ? static_cast<errc>(o[3].get<int>()) : errc::task_failed;
    fail_at(i, std::move(f));
  }

  /// The outcomes of inputs [b, b + items.count): values, or failures.
  void take_outcomes(std::size_t b, const batch_items& items, const procpool::result& r) {
    std::span<const std::uint8_t> rest = items.bytes;
    for (std::size_t j = 0; j < items.count; ++j) {
      const std::span<const std::uint8_t> item = next_batch_item(rest);
      std::span<const std::uint8_t> value;
      if (batch_item_value(item, value)) {
        codec_.take_value(b + j, value);
      } else {
        take_failure(b + j, item, r);
      }
    }
  }

  void settle(std::size_t b, std::size_t end, procpool::result r) {
    if (r.state == task_state::failed && r.error_code == errc::too_large && end - b > 1) {
      // The chunk's results together were over max_payload_bytes: halve it.
      const std::size_t mid = b + (end - b) / 2;
      resend(b, mid);
      resend(mid, end);
      return;
    }
    std::optional<batch_items> items = batch_outcome_items(r.value);
    if (items) items->count = std::min(items->count, end - b);
    const std::size_t ran = items ? items->count : 0;
    if (items) take_outcomes(b, *items, r);
    if (r.ok()) return;
    // Cut short at input b + ran (crashed, timed out, cancelled): that input
    // takes the state. After its own time limit, or a crash of a chunk that
    // reported input by input, the inputs behind it never ran: they go on,
    // uncharged. Otherwise the whole rest of the chunk shares the state.
    const std::size_t at = b + ran;
    if (at >= end) return;
    r.value = nullptr;
    const bool per_input = r.state == task_state::timed_out || (r.state == task_state::crashed && ran > 0);
    fail_at(at, r);
    if (per_input && at + 1 < end) resend(at + 1, end);
  }

  pool_front& front_;
  const task_entry& e_;
  map_codec& codec_;
  std::vector<bool> sent_once_;
  std::deque<in_flight> pending_;
  std::optional<procpool::result> first_failure_;
  std::size_t first_index_ = std::numeric_limits<std::size_t>::max();
};

}  // namespace

void pool_front::run_map(const task_entry& e, map_codec& codec, std::size_t chunksize, const std::string& where) {
  if (chunksize == 0) {
    // About four chunks per worker, at most 4096 inputs each (bounded results).
    const auto workers = static_cast<std::size_t>(opts_.workers);
    chunksize = std::clamp<std::size_t>((codec.size() + 4 * workers - 1) / (4 * workers), 1, 4096);
  }
  std::vector<chunk> chunks = encode_chunks(codec, chunksize, opts_.max_payload_bytes, where);
  map_run run(*this, e, codec);
  for (chunk& c : chunks) run.send(c.begin, c.end, std::move(c.payload));
  chunks.clear();
  run.collect();
}

std::vector<nlohmann::json> pool_front::map(std::string_view task, const std::vector<nlohmann::json>& inputs,
                                            bool positional, std::size_t chunksize) {
  const std::string where = positional ? "pool::starmap" : "pool::map";
  if (inputs.empty()) return {};
  const task_entry* e = find_task(task);
  if (e == nullptr) throw error(errc::unknown_task, where + ": unknown task '" + std::string(task) + "'");
  // Validate every input before accepting any: a bad one refuses the call whole.
  json_codec codec(check_inputs(*e, inputs, positional, where));
  run_map(*e, codec, chunksize, where);
  return codec.take_values();
}

void pool_front::map_with(std::string_view task, map_codec& codec, std::size_t chunksize) {
  const std::string where = "pool::map";
  if (codec.size() == 0) return;
  const task_entry* e = find_task(task);
  if (e == nullptr) throw error(errc::unknown_task, where + ": unknown task '" + std::string(task) + "'");
  run_map(*e, codec, chunksize, where);
}

}  // namespace procpool::detail
