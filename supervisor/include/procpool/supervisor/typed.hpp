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
// (typed_checks.hpp).
//
// pool.hpp declares these members and includes this file at its end.
#pragma once

#include <procpool/supervisor/pool.hpp>
#include <procpool/supervisor/typed_checks.hpp>
#include <procpool/supervisor/typed_handle.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace procpool {

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
    std::vector<nlohmann::json> args;
    args.reserve(inputs.size());
    for (const T& x : inputs) args.push_back(detail::argument_json<param>(x));
    // The JSON map: the same chunks, and the same failure report (the first
    // failing input in order, as task_error whose tag is its position).
    std::vector<nlohmann::json> values = map(name, args, chunksize);
    if constexpr (std::is_void_v<R>) {
      (void)values;
    } else {
      out_type out;
      out.reserve(values.size());
      for (std::size_t i = 0; i < values.size(); ++i) {
        out.push_back(detail::value_as<R>(values[i], "pool::map", std::to_string(i)));
      }
      return out;
    }
  }
}

}  // namespace procpool
