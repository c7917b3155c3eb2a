// Registering tasks by name: PROCPOOL_TASK(name, callable).
//
//   PROCPOOL_TASK(square, [](int x) { return x * x; });
//   PROCPOOL_TASK(resize, [](procpool::task_context& ctx, const resize_args& a) { ... });
//
// The callable takes JSON-convertible parameters (any type with nlohmann
// to_json/from_json), optionally preceded by `procpool::task_context&`, and
// returns a JSON-convertible value or void (null). Generic lambdas (auto
// parameters) cannot be registered: the parameter types must be known.
//
// Arguments travel as a positional JSON array. pool::submit(tag, name, args)
// builds it (checked_positional below; `procpool run` uses the same rule): a
// task with N != 1 parameters takes `args` as an array of N values (null or []
// for none); a task with one parameter takes `args` itself when it converts to
// the parameter's type, else a one-element array whose element converts (so
// sum(std::vector<int>) takes [1,2,3] and [[1,2,3]], square(int) 5 and [5]).
//
// Use PROCPOOL_TASK at namespace scope in one .cpp file of the program that runs
// the pool: forked workers inherit the registry, thread workers share it.
#pragma once

#include <procpool/shared/detail/msgpack_flat.hpp>
#include <procpool/shared/error.hpp>
#include <procpool/shared/shared_state.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

namespace procpool {

namespace detail {
struct worker_row;
class shared_state_arena;
}  // namespace detail

/// What a running task may know about itself. Valid only during the call.
class task_context {
 public:
  task_context(std::string_view tag, std::string_view task_name, int attempt, int worker_index,
               const std::atomic<std::uint32_t>* stop_flag,
               detail::shared_state_arena* shared_state = nullptr) noexcept
      : tag_(tag),
        task_name_(task_name),
        attempt_(attempt),
        worker_index_(worker_index),
        stop_flag_(stop_flag),
        shared_state_(shared_state) {}

  [[nodiscard]] std::string_view tag() const noexcept { return tag_; }
  [[nodiscard]] std::string_view task_name() const noexcept { return task_name_; }
  /// 1 for the first attempt.
  [[nodiscard]] int attempt() const noexcept { return attempt_; }
  /// The worker's row in the pool's worker table (0 .. workers-1).
  [[nodiscard]] int worker_index() const noexcept { return worker_index_; }
  /// True once the pool asked running tasks to stop (terminate(); in thread mode
  /// the only way to end a task early). Non-blocking, thread-safe.
  [[nodiscard]] bool stop_requested() const noexcept {
    return stop_flag_ != nullptr && stop_flag_->load(std::memory_order_acquire) != 0;
  }

  // ---- shared state ---------------------------------------------------------
  // The objects the supervisor made with pool::make_array/make_dict/make_queue/
  // make_event/make_lock/make_rlock, opened by name (<procpool/shared/shared_state.hpp>).
  // Non-blocking. Throw procpool::error(invalid_argument) if there is no object of
  // that name and kind (or, for array<T>, its element type is not T). The handles
  // stay valid after the task returns, for as long as the pool lives.

  template <class T>
  [[nodiscard]] shared_array<T> array(std::string_view name) const {
    return shared_array<T>::open(shared_state(), name);
  }
  [[nodiscard]] shared_dict dict(std::string_view name) const {
    return shared_dict::open(shared_state(), name);
  }
  [[nodiscard]] shared_queue queue(std::string_view name) const {
    return shared_queue::open(shared_state(), name);
  }
  [[nodiscard]] procpool::event event(std::string_view name) const {
    return procpool::event::open(shared_state(), name);
  }
  [[nodiscard]] procpool::lock lock(std::string_view name) const {
    return procpool::lock::open(shared_state(), name);
  }
  [[nodiscard]] procpool::rlock rlock(std::string_view name) const {
    return procpool::rlock::open(shared_state(), name);
  }

 private:
  std::string_view tag_;
  std::string_view task_name_;
  int attempt_;
  int worker_index_;
  const std::atomic<std::uint32_t>* stop_flag_;
  detail::shared_state_arena* shared_state_;

  [[nodiscard]] detail::shared_state_arena& shared_state() const {
    if (shared_state_ == nullptr) {
      throw error(errc::invalid_argument,
                  "task_context: no shared state here (only tasks run by a pool have it)");
    }
    return *shared_state_;
  }
};

namespace detail {

/// A registered task, type-erased. `invoke` and `check` take the positional
/// argument array; `check` converts (or checks the type of) each argument without running (the supervisor refuses
/// bad arguments at submit with errc::bad_arguments).
struct task_entry {
  std::string name;
  std::size_t arity = 0;
  std::function<nlohmann::json(task_context&, const nlohmann::json&)> invoke;
  std::function<void(const nlohmann::json&)> check;
  /// The map fast path, set when every parameter and the result are flat
  /// (msgpack_flat.hpp): reads one input's positional array from `in`, runs
  /// the task, and appends its value's MessagePack to `out`. Returns false,
  /// having consumed and written nothing, when an argument does not read
  /// without nlohmann (the caller then decodes the input and calls `invoke`);
  /// the task's own exceptions propagate.
  std::function<bool(task_context&, msgpack::reader& in, std::vector<std::uint8_t>& out)> invoke_flat;
  /// The parameters' types, demangled and without default template arguments
  /// ("std::vector<int>"), for error messages and `procpool tasks`.
  std::vector<std::string> param_types;
};

/// The checked positional argument array for `args` as pool::submit takes it
/// (the rule at the top of this file). Throws procpool::error(bad_arguments)
/// naming the shape the task expects.
[[nodiscard]] nlohmann::json checked_positional(const task_entry& e, const nlohmann::json& args);
/// The same, moving `args` into the array instead of copying it (a large
/// payload is not copied); `args` is left unspecified.
[[nodiscard]] nlohmann::json checked_positional(const task_entry& e, nlohmann::json&& args);

/// A type's readable name: demangled, std::string and nlohmann::json by those
/// names, default allocator/comparator/traits arguments left out.
[[nodiscard]] std::string type_display_name(const std::type_info& type);

/// "task 'add' takes 2 arguments (int, int), got 1": the count refusal of `check`.
[[nodiscard]] std::string arity_message(const std::string& task, const std::vector<std::string>& types,
                                        std::size_t got);

/// Registers a task; throws procpool::error(invalid_argument) on an empty or
/// duplicate name (at static-initialisation time, which ends the program with
/// the message: a duplicate registration is a programming error), and once a
/// pool exists: workers already started could not know the task, and worker
/// threads read the registry without a lock (put PROCPOOL_TASK at namespace
/// scope).
void register_task(task_entry entry);

/// Records that the function at `fn` was registered as the task `name`, for
/// the typed calls (typed_task.hpp). The registrar calls it after register_task
/// succeeded, so before main(). A function registered under two names is
/// remembered as ambiguous.
void register_task_address(void (*fn)(), const char* name);

/// Closes the registry for good: every pool calls it when it is made, so a
/// registration after that is refused at the registration itself, never as
/// "unknown task" inside a worker. Thread-safe.
void seal_task_registry() noexcept;

/// The task registered under `name`, or nullptr. Thread-safe after static
/// initialisation (the registry is read-only once main() runs).
[[nodiscard]] const task_entry* find_task(std::string_view name) noexcept;

/// Every registered name, sorted.
[[nodiscard]] std::vector<std::string> task_names();

template <class T>
struct callable_traits : callable_traits<decltype(&T::operator())> {};
template <class R, class... A>
struct callable_traits<R (*)(A...)> {
  using result_type = R;
  using args = std::tuple<A...>;
};
template <class R, class... A>
struct callable_traits<R(A...)> : callable_traits<R (*)(A...)> {};
template <class C, class R, class... A>
struct callable_traits<R (C::*)(A...) const> : callable_traits<R (*)(A...)> {};
template <class C, class R, class... A>
struct callable_traits<R (C::*)(A...)> : callable_traits<R (*)(A...)> {};
template <class C, class R, class... A>
struct callable_traits<R (C::*)(A...) const noexcept> : callable_traits<R (*)(A...)> {};
template <class C, class R, class... A>
struct callable_traits<R (C::*)(A...) noexcept> : callable_traits<R (*)(A...)> {};
template <class R, class... A>
struct callable_traits<R (*)(A...) noexcept> : callable_traits<R (*)(A...)> {};

template <class Tuple>
struct first_is_context : std::false_type {};
template <class First, class... Rest>
struct first_is_context<std::tuple<First, Rest...>>
    : std::is_same<std::remove_cvref_t<First>, task_context> {};

template <class Tuple>
struct drop_first {
  using type = std::tuple<>;
};
template <class First, class... Rest>
struct drop_first<std::tuple<First, Rest...>> {
  using type = std::tuple<Rest...>;
};

/// Converts element I of the positional array to parameter type P, naming the
/// argument in the error.
template <class P>
std::remove_cvref_t<P> convert_arg(const nlohmann::json& positional, std::size_t index,
                                   std::string_view task) {
  try {
    return positional.at(index).template get<std::remove_cvref_t<P>>();
  } catch (const nlohmann::json::exception& e) {
    throw error(errc::bad_arguments, "task '" + std::string(task) + "' argument " +
                                         std::to_string(index + 1) + ": " + e.what());
  }
}

/// Checks that element I of the positional array converts to parameter type
/// P, with the error convert_arg gives. Strings, binaries and JSON values are
/// checked by their type alone, exactly as nlohmann's conversion decides, so a
/// large payload is not copied only to be thrown away; other types are converted.
template <class P>
void check_arg(const nlohmann::json& positional, std::size_t index, std::string_view task) {
  using T = std::remove_cvref_t<P>;
  if (index < positional.size()) {
    [[maybe_unused]] const nlohmann::json& v = positional[index];
    if constexpr (std::is_same_v<T, nlohmann::json>) {
      return;
    } else if constexpr (std::is_same_v<T, nlohmann::json::string_t>) {
      if (v.is_string()) return;
    } else if constexpr (std::is_same_v<T, nlohmann::json::binary_t>) {
      if (v.is_binary()) return;
    }
  }
  (void)convert_arg<P>(positional, index, task);
}

template <class Params, std::size_t... I>
void check_all([[maybe_unused]] const nlohmann::json& positional, [[maybe_unused]] std::string_view task,
               std::index_sequence<I...> /*unused*/) {
  (check_arg<std::tuple_element_t<I, Params>>(positional, I, task), ...);
}

template <class Params, std::size_t... I>
auto convert_all([[maybe_unused]] const nlohmann::json& positional, [[maybe_unused]] std::string_view task,
                 std::index_sequence<I...> /*unused*/) {
  return std::tuple<std::remove_cvref_t<std::tuple_element_t<I, Params>>...>{
      convert_arg<std::tuple_element_t<I, Params>>(positional, I, task)...};
}

/// Calls the task's callable with its converted arguments, the task_context
/// first when it takes one.
template <bool with_context, class F, class Args>
decltype(auto) call_task(const F& fn, [[maybe_unused]] task_context& ctx, Args&& args) {
  return std::apply(
      [&](auto&&... a) -> decltype(auto) {
        if constexpr (with_context) {
          return fn(ctx, std::forward<decltype(a)>(a)...);
        } else {
          return fn(std::forward<decltype(a)>(a)...);
        }
      },
      std::forward<Args>(args));
}

/// Whether every parameter is flat, and the tuple their values are read into.
template <class Params>
struct all_flat;
template <class... P>
struct all_flat<std::tuple<P...>> : std::bool_constant<(msgpack::is_flat_v<std::remove_cvref_t<P>> && ...)> {
  using values = std::tuple<std::remove_cvref_t<P>...>;
};

template <class Params, std::size_t... I>
bool read_flat_all([[maybe_unused]] msgpack::reader& in, [[maybe_unused]] Params& args,
                   std::index_sequence<I...> /*unused*/) {
  return (msgpack::read_flat(in, std::get<I>(args)) && ...);
}

/// Sets entry.invoke_flat for a task whose parameters and result are all flat.
template <bool with_context, class Params, class R, class F>
void add_flat_invoker(task_entry& entry, const F& fn) {
  using values = typename all_flat<Params>::values;
  entry.invoke_flat = [fn](task_context& ctx, msgpack::reader& in, std::vector<std::uint8_t>& out) -> bool {
    constexpr std::size_t n = std::tuple_size_v<Params>;
    const std::uint8_t* const start = in.pos();
    values args{};
    std::size_t count = 0;
    if (!in.array_header(count) || count != n || !read_flat_all(in, args, std::make_index_sequence<n>{})) {
      in.seek(start);
      return false;
    }
    if constexpr (std::is_void_v<R>) {
      call_task<with_context>(fn, ctx, std::move(args));
      msgpack::put_nil(out);
    } else {
      using plain = std::remove_cvref_t<R>;
      msgpack::write_flat(out, static_cast<plain>(call_task<with_context>(fn, ctx, std::move(args))));
    }
    return true;
  };
}

template <class Params, std::size_t... I>
std::vector<std::string> param_type_names(std::index_sequence<I...> /*unused*/) {
  return {type_display_name(typeid(std::remove_cvref_t<std::tuple_element_t<I, Params>>))...};
}

template <class F>
task_entry make_task_entry(std::string name, F fn) {
  using traits = callable_traits<std::remove_cvref_t<F>>;
  using all_args = typename traits::args;
  constexpr bool with_context = first_is_context<all_args>::value;
  using params = std::conditional_t<with_context, typename drop_first<all_args>::type, all_args>;
  constexpr std::size_t arity = std::tuple_size_v<params>;
  using result_type = typename traits::result_type;

  task_entry entry;
  entry.name = name;
  entry.arity = arity;
  entry.param_types = param_type_names<params>(std::make_index_sequence<arity>{});
  entry.check = [name, types = entry.param_types](const nlohmann::json& positional) {
    constexpr std::size_t n = std::tuple_size_v<params>;
    if (!positional.is_array() || positional.size() != n) {
      throw error(errc::bad_arguments,
                  arity_message(name, types, positional.is_array() ? positional.size() : std::size_t{1}));
    }
    check_all<params>(positional, name, std::make_index_sequence<n>{});
  };
  const F entry_fn_copy = fn;  // std::function needs a copyable callable anyway
  entry.invoke = [name, fn = std::move(fn), check = entry.check](
                     task_context& ctx, const nlohmann::json& positional) -> nlohmann::json {
    constexpr std::size_t n = std::tuple_size_v<params>;
    if (!positional.is_array() || positional.size() != n) check(positional);
    auto converted = convert_all<params>(positional, name, std::make_index_sequence<n>{});
    if constexpr (std::is_void_v<result_type>) {
      call_task<with_context>(fn, ctx, std::move(converted));
      return nullptr;
    } else {
      return nlohmann::json(call_task<with_context>(fn, ctx, std::move(converted)));
    }
  };
  using plain_result = std::remove_cvref_t<result_type>;
  if constexpr (all_flat<params>::value && (std::is_void_v<result_type> || msgpack::is_flat_v<plain_result>)) {
    add_flat_invoker<with_context, params, result_type>(entry, entry_fn_copy);
  }
  return entry;
}

/// Registers one task at static initialisation. A class template so that the
/// macro can name the callable's type (callable_type) through the registrar's
/// own declared type: the callable is written, and evaluated, once.
template <class F>
struct task_registrar {
  using callable_type = F;
  task_registrar(const char* name, F fn) {
    if constexpr (std::is_pointer_v<F> && std::is_function_v<std::remove_pointer_t<F>>) {
      // Also by address, so pool::submit(tag, fn, args...) finds the name. The
      // cast to void(*)() only makes a key (see typed_task.hpp).
      const auto key = reinterpret_cast<void (*)()>(fn);
      register_task(make_task_entry(name, std::move(fn)));
      register_task_address(key, name);
    } else {
      register_task(make_task_entry(name, std::move(fn)));
    }
  }
};

}  // namespace detail
}  // namespace procpool

#define PROCPOOL_DETAIL_CAT2(a, b) a##b
#define PROCPOOL_DETAIL_CAT(a, b) PROCPOOL_DETAIL_CAT2(a, b)

/// Registers `callable` as the task `name` (an identifier-like token; the task
/// is called by the string #name), and defines `name##_task`, its typed token
/// (procpool::typed_task, <procpool/worker/typed_task.hpp>): the token's type
/// comes from the registrar's declared type, so the callable is not repeated.
/// `static`: a namespace-scope token stays private to its file (as the
/// registration belongs to exactly one file) and the macro also works inside a
/// function.
#define PROCPOOL_TASK(name, ...)                                                          \
  [[maybe_unused]] static const ::procpool::detail::task_registrar                       \
      PROCPOOL_DETAIL_CAT(procpool_task_registrar_, name){#name, __VA_ARGS__};           \
  [[maybe_unused]] static constexpr ::procpool::detail::typed_task_of<                   \
      decltype(PROCPOOL_DETAIL_CAT(procpool_task_registrar_, name))>                     \
      PROCPOOL_DETAIL_CAT(name, _task){#name}

// The typed token's definition (it needs the traits above).
#include <procpool/worker/typed_task.hpp>
