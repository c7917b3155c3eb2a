// The compile-time checks of the typed pool calls (<procpool/supervisor/typed.hpp>).
//
// Each check is a class template whose parameters are what a reader needs to
// fix the call (the task's signature, the argument's number, the type given,
// the parameter's type), so the one static_assert that fails is printed with
// them in its "In instantiation of ..." line. The checks run before anything
// else is instantiated, and the typed calls do nothing else when one fails, so
// a bad call gives that one error, not the conversion machinery's.
#pragma once

#include <procpool/worker/typed_task.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

namespace procpool::detail {

/// A value the supervisor can read back from a task's JSON result.
template <class R>
concept json_readable = std::is_void_v<R> || requires(const nlohmann::json& j) { j.template get<R>(); };

/// A value the supervisor can send as a task argument.
template <class P>
concept json_writable = std::is_constructible_v<nlohmann::json, const P&>;

template <class Signature, std::size_t Expected, std::size_t Given>
struct argument_count_check : std::bool_constant<Expected == Given> {
  static_assert(Expected == Given,
                "procpool: wrong number of arguments for this task (argument_count_check<Signature, "
                "Expected, Given> above: the task's signature, how many it takes, how many were "
                "given)");
};

template <class Signature, std::size_t ArgumentNumber, class Given, class Parameter>
struct argument_type_check : std::bool_constant<std::is_convertible_v<Given, Parameter>> {
  static_assert(std::is_convertible_v<Given, Parameter>,
                "procpool: a task argument does not convert to its parameter type "
                "(argument_type_check<Signature, ArgumentNumber, Given, Parameter> above: which "
                "argument, from 1, its type, the parameter's type)");
};

template <class Signature, std::size_t ParameterNumber, class Parameter>
struct parameter_json_check : std::bool_constant<json_writable<Parameter>> {
  static_assert(json_writable<Parameter>,
                "procpool: a task parameter type has no nlohmann to_json, so it cannot be sent "
                "(parameter_json_check<Signature, ParameterNumber, Parameter> above)");
};

template <class Signature, class Result>
struct result_json_check : std::bool_constant<json_readable<Result>> {
  static_assert(json_readable<Result>,
                "procpool: the task's return type cannot be read from JSON, it has no nlohmann "
                "from_json (result_json_check<Signature, Result> above)");
};

template <class Signature, std::size_t Parameters>
struct map_arity_check : std::bool_constant<Parameters == 1> {
  static_assert(Parameters == 1,
                "procpool: the typed pool::map takes a task of one parameter, each input being "
                "that parameter (map_arity_check<Signature, Parameters> above)");
};

/// A signature R(P...) taken apart.
template <class Signature>
struct signature_parts;
template <class R, class... P>
struct signature_parts<R(P...)> {
  using result = std::remove_cvref_t<R>;
  using params = std::tuple<std::remove_cvref_t<P>...>;
  static constexpr std::size_t arity = sizeof...(P);
};

template <class Task>
using typed_signature_t = typename typed_ref_signature<std::decay_t<Task>>::type;
/// The C++ value a typed call returns for Task (void for a void task).
template <class Task>
using typed_result_t = typename signature_parts<typed_signature_t<Task>>::result;
template <class Task>
using typed_map_result_t =
    std::conditional_t<std::is_void_v<typed_result_t<Task>>, void, std::vector<typed_result_t<Task>>>;

/// Checks argument Number and on, stopping at the first that fails (one
/// error, not one per argument): conditional_t only names the next step, so it
/// is instantiated only when this argument passed.
template <class Signature, std::size_t Number, class Params, class Args>
struct argument_types_check : std::true_type {};
template <class Signature, std::size_t Number, class P, class... Ps, class A, class... As>
struct argument_types_check<Signature, Number, std::tuple<P, Ps...>, std::tuple<A, As...>>
    : std::conditional_t<argument_type_check<Signature, Number, std::decay_t<A>, P>::value,
                         argument_types_check<Signature, Number + 1, std::tuple<Ps...>, std::tuple<As...>>,
                         std::false_type> {};

template <class Signature, std::size_t Number, class Params>
struct parameters_json_check : std::true_type {};
template <class Signature, std::size_t Number, class P, class... Ps>
struct parameters_json_check<Signature, Number, std::tuple<P, Ps...>>
    : std::conditional_t<parameter_json_check<Signature, Number, P>::value,
                         parameters_json_check<Signature, Number + 1, std::tuple<Ps...>>, std::false_type> {};

/// True when a call of a task of this signature with Args compiles; exactly
/// one of the checks above fails otherwise. The count goes first: with a wrong
/// count the arguments cannot be paired with parameters.
template <class Signature, class... Args>
inline constexpr bool typed_call_ok = [] {
  using parts = signature_parts<Signature>;
  constexpr std::size_t n = parts::arity;
  if constexpr (!result_json_check<Signature, typename parts::result>::value) {
    return false;
  } else if constexpr (!argument_count_check<Signature, n, sizeof...(Args)>::value) {
    return false;
  } else if constexpr (!parameters_json_check<Signature, 1, typename parts::params>::value) {
    return false;
  } else {
    return argument_types_check<Signature, 1, typename parts::params, std::tuple<Args...>>::value;
  }
}();

/// One argument as JSON, converted to the parameter's type first, so what
/// travels is exactly what the task's from_json reads (a const char* as the
/// std::string parameter, a short as the int). Same type: no copy.
template <class Param, class A>
nlohmann::json argument_json(A&& a) {
  if constexpr (std::is_same_v<std::remove_cvref_t<A>, Param>) {
    return nlohmann::json(std::forward<A>(a));
  } else {
    Param converted = std::forward<A>(a);
    return nlohmann::json(std::move(converted));
  }
}

/// The `args` value pool::submit takes for a call with these arguments: a task
/// of one parameter takes the value itself (the JSON of a P always converts to
/// P, so the one-parameter rule of PROCPOOL_TASK reads it as the value, even
/// when it is an array or P is nlohmann::json); any other arity, the array.
template <class Signature, class... Args>
nlohmann::json typed_arguments(Args&&... args) {
  using params = typename signature_parts<Signature>::params;
  if constexpr (sizeof...(Args) == 1) {
    return argument_json<std::tuple_element_t<0, params>>(std::forward<Args>(args)...);
  } else {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      nlohmann::json positional = nlohmann::json::array();
      (positional.push_back(argument_json<std::tuple_element_t<I, params>>(std::forward<Args>(args))), ...);
      return positional;
    }(std::index_sequence_for<Args...>{});
  }
}

/// Stands for the value of a typed call whose checks failed: never defined,
/// only named, so the failed static_assert stays the only error.
template <class R>
R refused_typed_call();

}  // namespace procpool::detail
