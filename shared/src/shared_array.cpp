#include <procpool/shared/detail/shared_containers.hpp>
#include <procpool/shared/detail/shared_state_arena.hpp>
#include <procpool/shared/error.hpp>
#include <procpool/shared/shared_array.hpp>

#include <algorithm>
#include <limits>
#include <new>
#include <string>

namespace procpool::detail {
namespace {

constexpr std::size_t align_up(std::size_t n, std::size_t a) noexcept { return (n + a - 1) / a * a; }

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string describe_type(std::size_t size, std::size_t align, std::string_view type_name) {
  return quoted(type_name) + " (" + std::to_string(size) + " bytes, alignment " +
         std::to_string(align) + ")";
}

array_view view_of(array_header* h, const char* name) noexcept {
  return array_view{h, reinterpret_cast<std::uint8_t*>(h) + h->data_offset,
                    static_cast<std::size_t>(h->count), name};
}

}  // namespace

array_view array_create(shared_state_arena& arena, std::string_view name, std::size_t n,
                        std::size_t elem_size, std::size_t elem_align, const char* type_name,
                        const std::function<void(void*)>& fill) {
  if (elem_align == 0 || (elem_align & (elem_align - 1)) != 0 || elem_align > 4096) {
    throw error(errc::invalid_argument, "make_array: " + quoted(name) +
                                            ": unsupported element alignment " +
                                            std::to_string(elem_align));
  }
  const std::size_t data_offset = align_up(sizeof(array_header), std::max<std::size_t>(elem_align, 64));
  if (n > (std::numeric_limits<std::size_t>::max() - data_offset) / std::max<std::size_t>(elem_size, 1)) {
    throw error(errc::full, "make_array: " + quoted(name) + ": " + std::to_string(n) +
                                " elements do not fit in memory");
  }
  const std::size_t bytes = data_offset + n * elem_size;
  const std::string_view tname(type_name);
  const std::uint64_t tag = fnv1a64(tname);
  const auto obj = arena.create(
      name, shared_kind::array, tag, bytes, std::max<std::size_t>(elem_align, 64), [&](void* p) {
        auto* h = new (p) array_header();
        h->magic = array_magic;
        h->elem_size = static_cast<std::uint32_t>(elem_size);
        h->elem_align = static_cast<std::uint32_t>(elem_align);
        h->type_tag = tag;
        h->count = n;
        h->data_offset = data_offset;
        const std::size_t copied = std::min(tname.size(), sizeof h->type_name - 1);
        std::memcpy(h->type_name, tname.data(), copied);
        h->type_name[copied] = '\0';
        h->mutex.init(false);
        fill(static_cast<std::uint8_t*>(p) + data_offset);
      });
  return view_of(static_cast<array_header*>(obj.storage), obj.name);
}

array_view array_open(shared_state_arena& arena, std::string_view name, std::size_t elem_size,
                      std::size_t elem_align, const char* type_name) {
  const auto obj = arena.find(name, shared_kind::array);
  auto* h = static_cast<array_header*>(obj.storage);
  if (h->magic != array_magic) {
    throw error(errc::segment_poisoned, "open array: " + quoted(name) + " is damaged");
  }
  if (h->elem_size != elem_size || h->elem_align != elem_align ||
      h->type_tag != fnv1a64(type_name)) {
    throw error(errc::invalid_argument,
                "open array: " + quoted(name) + " holds elements of type " +
                    describe_type(h->elem_size, h->elem_align, h->type_name) + ", not " +
                    describe_type(elem_size, elem_align, type_name));
  }
  return view_of(h, obj.name);
}

held_lock array_lock(array_header* h, const char* name) {
  const auto s = h->mutex.acquire(std::nullopt, "array", name);
  if (s == pshared_mutex::status::owner_died) h->mutex.mark_consistent();
  return held_lock(&h->mutex, s == pshared_mutex::status::owner_died);
}

void array_out_of_range(const char* name, std::size_t i, std::size_t n) {
  throw error(errc::invalid_argument, "array " + quoted(name) + ": index " + std::to_string(i) +
                                          " out of range (size " + std::to_string(n) + ")");
}

}  // namespace procpool::detail
