// Typed references to registered tasks: what pool::submit(tag, task, args...)
// and its typed friends (<procpool/supervisor/typed.hpp>) take instead of a name.
//
//   int square(int x) { return x * x; }
//   PROCPOOL_TASK(square, square);                       // also defines square_task
//   PROCPOOL_TASK(add, [](int a, int b) { return a + b; });  // defines add_task
//
//   pool.submit("t1", square, 7);      // the function itself: its name is found by address
//   pool.submit("t2", add_task, 2, 3); // the token PROCPOOL_TASK made
//
// Why two forms: in the common pattern above the task's name is the function's
// name, so the macro cannot define a variable `square`; it defines `square_task`
// instead, and the function itself is recognised by its address. A lambda has
// no address to look up, so its token is the only typed way to call it.
//
// A token is an ordinary constexpr value: another file can declare its own
// `constexpr procpool::typed_task<int(int)> square_task{"square"};` (the name
// is checked at submit, the signature is the caller's promise).
#pragma once

#include <procpool/worker/task.hpp>

#include <string_view>
#include <tuple>
#include <type_traits>

namespace procpool {

/// A registered task's name with its call signature R(P...) as a type (the
/// parameters without the optional leading task_context&).
template <class Signature>
class typed_task;

template <class R, class... P>
class typed_task<R(P...)> {
 public:
  using result_type = R;
  using params = std::tuple<P...>;

  constexpr explicit typed_task(std::string_view name) noexcept : name_(name) {}
  [[nodiscard]] constexpr std::string_view name() const noexcept { return name_; }

 private:
  std::string_view name_;
};

namespace detail {

/// The task name a function was registered under. Throws procpool::error:
/// unknown_task if it was not registered with PROCPOOL_TASK, invalid_argument
/// if it was registered under two names. `type` names the function's type in
/// the message, `where` starts it ("pool::submit"). Lock-free after static initialisation, like find_task.
[[nodiscard]] std::string_view task_name_by_address(void (*fn)(), std::string_view where,
                                                   std::string_view type);

/// The signature R(P...) of a registrable callable, task_context dropped.
template <class F>
struct task_signature {
  using traits = callable_traits<std::remove_cvref_t<F>>;
  using all_args = typename traits::args;
  using params = std::conditional_t<first_is_context<all_args>::value,
                                    typename drop_first<all_args>::type, all_args>;
  template <class Tuple>
  struct make;
  template <class... P>
  struct make<std::tuple<P...>> {
    using type = typename traits::result_type(P...);
  };
  using type = typename make<params>::type;
};

/// The token type PROCPOOL_TASK defines for a registrar (typed_task of the
/// callable's signature).
template <class Registrar>
using typed_task_of =
    typed_task<typename task_signature<typename std::remove_cvref_t<Registrar>::callable_type>::type>;

template <class T>
struct is_typed_task : std::false_type {};
template <class Sig>
struct is_typed_task<typed_task<Sig>> : std::true_type {};

template <class T>
inline constexpr bool is_function_pointer_v =
    std::is_pointer_v<T> && std::is_function_v<std::remove_pointer_t<T>>;

}  // namespace detail

/// What the typed pool calls take as the task: a typed_task token, or a
/// function (or function pointer) registered with PROCPOOL_TASK.
template <class T>
concept typed_task_ref = detail::is_typed_task<std::decay_t<T>>::value ||
                         detail::is_function_pointer_v<std::decay_t<T>>;

namespace detail {

/// The signature of a typed_task_ref: the token's, or the function's.
template <class T>
struct typed_ref_signature;
template <class Sig>
struct typed_ref_signature<typed_task<Sig>> {
  using type = Sig;
};
template <class R, class... A>
struct typed_ref_signature<R (*)(A...)> : task_signature<R (*)(A...)> {};
template <class R, class... A>
struct typed_ref_signature<R (*)(A...) noexcept> : task_signature<R (*)(A...)> {};

/// The name the task is registered under (for a function: looked up by address).
template <class Sig>
[[nodiscard]] std::string_view typed_ref_name(const typed_task<Sig>& t, std::string_view /*where*/) {
  return t.name();
}
template <class F>
  requires is_function_pointer_v<F>
[[nodiscard]] std::string_view typed_ref_name(F fn, std::string_view where) {
  // void(*)() is the one function-pointer type any other may be cast to and
  // back (and -Wcast-function-type exempts it): the key, not something to call.
  return task_name_by_address(reinterpret_cast<void (*)()>(fn), where, type_display_name(typeid(F)));
}

}  // namespace detail
}  // namespace procpool
