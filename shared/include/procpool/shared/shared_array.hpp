// procpool::shared_array<T>: a fixed-size array of trivially copyable T in the
// pool's shared-state arena (Python's multiprocessing.Array).
//
// Lifecycle
// ---------
// The supervisor creates it with its size and initial values
// (pool.make_array<int>("temp", {11, 22, 33, 44}), or shared_array<T>::create on
// an arena); anyone opens it by name (ctx.array<int>("temp") in a task,
// shared_array<T>::open), which checks that the element type matches (size,
// alignment and type name). A handle is a small copyable view (like std::span):
// copies refer to the same elements; it is valid as long as the pool lives.
// The size never changes.
//
//   auto temp = ctx.array<int>("temp");
//   temp[i] = 100 + i;                      // plain access: your own element
//   temp.fetch_add(0, 1);                   // atomic, for integral T
//   {
//     procpool::held_lock g = temp.lock();  // compound updates across elements
//     temp[1] += temp[0];
//   }
//
// Concurrency: operator[] is a plain reference into shared memory. Two
// processes writing the same element without lock() or the atomic operations
// race (updates get lost), exactly as in Python. The atomic members use
// std::atomic_ref; do not mix them with plain access to the same element at the
// same time.
//
// Owner death: the array's lock is robust. If a process dies holding it, the
// next lock() returns a held_lock with owner_died() == true: the elements it
// was updating may be half updated.
#pragma once

#include <procpool/shared/error.hpp>
#include <procpool/shared/sync.hpp>

#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <vector>

namespace procpool {

namespace detail {
class shared_state_arena;
struct array_header;

struct array_view {
  array_header* header = nullptr;
  void* data = nullptr;
  std::size_t size = 0;
  const char* name = nullptr;
};

/// Supervisor: allocates the header and `n` elements, runs `fill(data)`, then
/// publishes. Throws as shared_state_arena::create.
array_view array_create(shared_state_arena& arena, std::string_view name, std::size_t n,
                        std::size_t elem_size, std::size_t elem_align, const char* type_name,
                        const std::function<void(void*)>& fill);
/// Opens and checks the element type. Throws procpool::error(invalid_argument)
/// if missing, not an array, or of another element type.
array_view array_open(shared_state_arena& arena, std::string_view name, std::size_t elem_size,
                      std::size_t elem_align, const char* type_name);
held_lock array_lock(array_header* h, const char* name);
[[noreturn]] void array_out_of_range(const char* name, std::size_t i, std::size_t n);
}  // namespace detail

template <class T>
class shared_array {
  static_assert(std::is_trivially_copyable_v<T>,
                "shared_array<T> needs a trivially copyable T (it lives in shared memory)");
  static_assert(!std::is_const_v<T> && !std::is_volatile_v<T>);

 public:
  using value_type = T;
  using size_type = std::size_t;
  using reference = T&;
  using iterator = T*;

  /// Supervisor: creates `name` with `n` elements, each `value`. Throws
  /// procpool::error: invalid_argument (bad or existing name, called from a
  /// worker), full (the arena has no room: the message gives the sizes).
  static shared_array create(detail::shared_state_arena& arena, std::string_view name,
                             std::size_t n, const T& value = T{}) {
    return shared_array(detail::array_create(arena, name, n, sizeof(T), alignof(T),
                                             typeid(T).name(), [n, &value](void* p) {
                                               T* d = static_cast<T*>(p);
                                               for (std::size_t i = 0; i < n; ++i) {
                                                 std::memcpy(d + i, &value, sizeof(T));
                                               }
                                             }));
  }
  /// Supervisor: creates `name` holding a copy of `values`.
  static shared_array create(detail::shared_state_arena& arena, std::string_view name,
                             std::span<const T> values) {
    return shared_array(detail::array_create(
        arena, name, values.size(), sizeof(T), alignof(T), typeid(T).name(), [values](void* p) {
          if (!values.empty()) std::memcpy(p, values.data(), values.size_bytes());
        }));
  }
  static shared_array create(detail::shared_state_arena& arena, std::string_view name,
                             std::initializer_list<T> values) {
    return create(arena, name, std::span<const T>(values.begin(), values.size()));
  }
  /// Anyone: opens `name`. Non-blocking. Throws procpool::error(invalid_argument)
  /// if there is no such array or its element type differs from T.
  static shared_array open(detail::shared_state_arena& arena, std::string_view name) {
    return shared_array(
        detail::array_open(arena, name, sizeof(T), alignof(T), typeid(T).name()));
  }

  /// Element `i`, unchecked (precondition: i < size()). A reference into shared
  /// memory: see the concurrency note above.
  T& operator[](std::size_t i) const noexcept { return data_[i]; }
  /// Element `i`; procpool::error(invalid_argument) if i >= size().
  T& at(std::size_t i) const {
    if (i >= size_) detail::array_out_of_range(name_, i, size_);
    return data_[i];
  }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] T* data() const noexcept { return data_; }
  [[nodiscard]] T* begin() const noexcept { return data_; }
  [[nodiscard]] T* end() const noexcept { return data_ + size_; }
  [[nodiscard]] std::span<T> span() const noexcept { return {data_, size_}; }
  /// A private copy of the elements (element by element; take lock() first for a
  /// copy consistent with writers that use it).
  [[nodiscard]] std::vector<T> to_vector() const { return std::vector<T>(data_, data_ + size_); }

  /// Blocks until the array's lock is held; the guard releases it. Thread-safe.
  /// held_lock::owner_died() tells that the previous holder died holding it.
  /// Throws procpool::error(invalid_argument) if this thread already holds it.
  [[nodiscard]] held_lock lock() const { return detail::array_lock(header_, name_); }

  // ---- atomic operations (integral T) -------------------------------------
  // Lock-free, thread- and process-safe; precondition: i < size().

  T load(std::size_t i, std::memory_order o = std::memory_order_seq_cst) const noexcept
    requires std::integral<T>
  {
    return ref(i).load(o);
  }
  void store(std::size_t i, T v, std::memory_order o = std::memory_order_seq_cst) const noexcept
    requires std::integral<T>
  {
    ref(i).store(v, o);
  }
  T exchange(std::size_t i, T v, std::memory_order o = std::memory_order_seq_cst) const noexcept
    requires std::integral<T>
  {
    return ref(i).exchange(v, o);
  }
  /// Adds `d`; returns the previous value.
  T fetch_add(std::size_t i, T d, std::memory_order o = std::memory_order_seq_cst) const noexcept
    requires std::integral<T>
  {
    return ref(i).fetch_add(d, o);
  }
  T fetch_sub(std::size_t i, T d, std::memory_order o = std::memory_order_seq_cst) const noexcept
    requires std::integral<T>
  {
    return ref(i).fetch_sub(d, o);
  }
  /// Stores `desired` if the element equals `expected` (true); otherwise loads
  /// the element into `expected` (false).
  bool compare_exchange(std::size_t i, T& expected, T desired,
                        std::memory_order o = std::memory_order_seq_cst) const noexcept
    requires std::integral<T>
  {
    return ref(i).compare_exchange_strong(expected, desired, o);
  }

  [[nodiscard]] std::string_view name() const noexcept { return name_; }

 private:
  explicit shared_array(const detail::array_view& v) noexcept
      : header_(v.header), data_(static_cast<T*>(v.data)), size_(v.size), name_(v.name) {}

  std::atomic_ref<T> ref(std::size_t i) const noexcept
    requires std::integral<T>
  {
    static_assert(std::atomic_ref<T>::required_alignment <= alignof(T));
    static_assert(std::atomic_ref<T>::is_always_lock_free,
                  "atomic operations across processes need a lock-free atomic_ref<T>");
    return std::atomic_ref<T>(data_[i]);
  }

  detail::array_header* header_;
  T* data_;
  std::size_t size_;
  const char* name_;
};

}  // namespace procpool
