// The typed pool calls: a task given as a function registered with
// PROCPOOL_TASK or as its token (name##_task), C++ arguments, C++ results.
//
//   int square(int x) { return x * x; }
//   PROCPOOL_TASK(square, square);
//   PROCPOOL_TASK(greet, [](const std::string& who) { return "hello " + who; });
//
//   procpool::typed_handle<int> h = pool.submit("t1", square, 7);
//   int v = h.get();                                         // 49
//   std::string s = pool.apply("t2", greet_task, "you");     // "hello you"
//   std::vector<int> all = pool.map(square, std::vector<int>{1, 2, 3});
//
// A layer over the JSON calls, nothing beside them: the arguments become the
// same `args` value (nlohmann to_json), go through the same submit / apply /
// map with the same refusals, limits and failure semantics (task_error from
// get(), map's first failure in input order), and the JSON value comes back
// through nlohmann from_json. What is added is checked at compile time: the
// argument count, each argument's type, and that the result reads from JSON
// (typed_checks.hpp). The typed map runs on the same map engine as the JSON
// map with a codec of its own (typed_map_codec): flat arguments and results
// (numbers, bool, std::string) are written and read as MessagePack without a
// JSON value, with the same values nlohmann would give.
//
// pool.hpp declares these members and includes this file at its end.
#pragma once

#include <procpool/shared/detail/codec.hpp>
#include <procpool/shared/detail/msgpack_flat.hpp>
#include <procpool/supervisor/map_codec.hpp>
#include <procpool/supervisor/pool.hpp>
#include <procpool/supervisor/typed_checks.hpp>
#include <procpool/supervisor/typed_handle.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace procpool {

namespace detail {

/// The typed map's codec: each input T becomes the one-argument array [Param],
/// each value is read as R. Flat types (msgpack_flat.hpp) are written and read
/// directly; others, and a flat value the reader does not take, go through
/// nlohmann exactly as the other typed calls do.
template <class Param, class R, class T>
class typed_map_codec final : public map_codec {
 public:
  explicit typed_map_codec(const std::vector<T>& inputs)
      : inputs_(inputs), values_(std::is_void_v<R> ? 0 : inputs.size()) {}

  [[nodiscard]] std::size_t size() const override { return inputs_.size(); }

  void encode_inputs(std::size_t begin, std::size_t end, std::vector<std::uint8_t>& out) const override {
    for (std::size_t i = begin; i < end; ++i) {
      if constexpr (msgpack::is_flat_v<Param>) {
        msgpack::put_array_header(out, 1);
        const Param converted = inputs_[i];
        msgpack::write_flat(out, converted);
      } else {
        encode_into(nlohmann::json::array({argument_json<Param>(inputs_[i])}), out);
      }
    }
  }

  void take_value([[maybe_unused]] std::size_t index, [[maybe_unused]] std::span<const std::uint8_t> value) override {
    if constexpr (!std::is_void_v<R>) {
      if constexpr (msgpack::is_flat_v<R>) {
        msgpack::reader in(value);
        R v{};
        if (msgpack::read_flat(in, v) && in.at_end()) {
          values_[index] = std::move(v);
          return;
        }
      }
      values_[index] = value_as<R>(decode(value), "pool::map", std::to_string(index));
    }
  }

  /// The values in input order (after the map engine gave every one).
  [[nodiscard]] auto take_values() {
    if constexpr (msgpack::is_flat_v<R>) {
      return std::move(values_);
    } else {
      std::vector<R> out;
      out.reserve(values_.size());
      for (std::optional<R>& v : values_) out.push_back(std::move(*v));
      return out;
    }
  }

 private:
  // Flat values are default-constructible; others need not be.
  using slot = std::conditional_t<msgpack::is_flat_v<R> || std::is_void_v<R>, R, std::optional<R>>;
  using slots = std::conditional_t<std::is_void_v<R>, std::vector<int>, std::vector<slot>>;

  const std::vector<T>& inputs_;
  slots values_;
};

}  // namespace detail

template <typed_task_ref Task, class... Args>
typed_handle<detail::typed_result_t<Task>> pool::submit(std::string tag, Task&& task, Args&&... args) {
  using signature = detail::typed_signature_t<Task>;
  using handle = typed_handle<detail::typed_result_t<Task>>;
  if constexpr (detail::typed_call_ok<signature, Args...>) {
    const std::string_view name = detail::typed_ref_name(task, "pool::submit");
    return handle(submit(std::move(tag), name,
                         detail::typed_arguments<signature>(std::forward<Args>(args)...)));
  } else {
    return detail::refused_typed_call<handle>();
  }
}

template <typed_task_ref Task, class... Args>
detail::typed_result_t<Task> pool::apply(std::string tag, Task&& task, Args&&... args) {
  using signature = detail::typed_signature_t<Task>;
  using R = detail::typed_result_t<Task>;
  if constexpr (detail::typed_call_ok<signature, Args...>) {
    const std::string_view name = detail::typed_ref_name(task, "pool::apply");
    std::string tag_copy = tag;  // for the message, should the value not read back
    return detail::value_as<R>(
        apply(std::move(tag), name, detail::typed_arguments<signature>(std::forward<Args>(args)...)),
        "pool::apply", tag_copy);
  } else {
    return detail::refused_typed_call<R>();
  }
}

template <typed_task_ref Task, class T>
detail::typed_map_result_t<Task> pool::map(Task&& task, const std::vector<T>& inputs,
                                           std::size_t chunksize) {
  using signature = detail::typed_signature_t<Task>;
  using parts = detail::signature_parts<signature>;
  using R = detail::typed_result_t<Task>;
  using out_type = detail::typed_map_result_t<Task>;
  // Nested, not &&: the arity check must pass before the argument check is
  // even instantiated (it pairs T with the one parameter).
  if constexpr (!detail::map_arity_check<signature, parts::arity>::value) {
    return detail::refused_typed_call<out_type>();
  } else if constexpr (!detail::typed_call_ok<signature, const T&>) {
    return detail::refused_typed_call<out_type>();
  } else {
    using param = std::tuple_element_t<0, typename parts::params>;
    const std::string_view name = detail::typed_ref_name(task, "pool::map");
    // The JSON map's engine: the same chunks, and the same failure report (the
    // first failing input in order, as task_error whose tag is its position).
    detail::typed_map_codec<param, R, T> codec(inputs);
    map_with(name, codec, chunksize);
    if constexpr (!std::is_void_v<R>) return codec.take_values();
  }
}

}  // namespace procpool
