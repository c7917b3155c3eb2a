// Submission checks: a submission is validated and encoded before the pool
// accepts anything, so a refusal leaves no trace.
#include "arguments.hpp"
#include "front/pool_front.hpp"

#include <procpool/shared/detail/codec.hpp>
#include <procpool/shared/detail/layout.hpp>

#include <utility>

namespace procpool::detail {

prepared_task pool_front::prepare(submit_request& req) const {
  // Error texts are built only when refusing: this runs for every submission.
  const char* const where = "pool::submit";
  if (req.keyed && req.tag.empty()) throw error(errc::invalid_argument, std::string(where) + ": empty tag");
  if (req.tag.size() > max_tag_bytes) {
    throw error(errc::invalid_argument, std::string(where) + ": tag of " + std::to_string(req.tag.size()) +
                                            " bytes (the limit is " + std::to_string(max_tag_bytes) + ")");
  }
  if (req.per_task.timeout && req.per_task.timeout->count() < 0) {
    throw error(errc::invalid_argument, std::string(where) + ": tag '" + req.tag + "': negative timeout");
  }
  if (req.per_task.retries && *req.per_task.retries < 0) {
    throw error(errc::invalid_argument, std::string(where) + ": tag '" + req.tag + "': negative retries");
  }
  const task_entry* e = find_task(req.task);
  if (e == nullptr) {
    throw error(errc::unknown_task, std::string(where) + ": unknown task '" + std::string(req.task) + "' (tag '" +
                                        req.tag + "')");
  }
  nlohmann::json positional;
  const auto named = [&] { return std::string(where) + ": tag '" + req.tag + "'"; };
  if (req.args_are_positional) {
    if (!req.args.is_array()) {
      throw error(errc::bad_arguments, named() + ": task '" + e->name + "' needs an array of positional arguments");
    }
    try {
      e->check(req.args);
    } catch (const error& ex) {
      throw error(errc::bad_arguments, named() + ": " + ex.what());
    }
    positional = std::move(req.args);
  } else {
    positional = positional_args(*e, std::move(req.args), named);  // checked, moved: no copy of a payload
  }
  prepared_task p;
  p.tag = req.tag;
  p.task = e->name;
  // Into this thread's scratch buffer, given back once the backend copied it
  // (submit_prepared): no payload-sized allocation per submission.
  p.payload = thread_scratch().take();
  encode_into(positional, p.payload);
  if (p.payload.size() > opts_.max_payload_bytes) {
    throw error(errc::too_large, std::string(where) + ": tag '" + req.tag + "': arguments encode to " +
                                     std::to_string(p.payload.size()) + " bytes, over options::max_payload_bytes (" +
                                     std::to_string(opts_.max_payload_bytes) + ")");
  }
  return p;
}

}  // namespace procpool::detail
