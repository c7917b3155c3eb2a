#include <procpool/shared/detail/segment.hpp>
#include <procpool/shared/detail/shared_state_arena.hpp>
#include <procpool/shared/error.hpp>

// Boost.Interprocess stays out of every header: the allocator is an
// implementation detail of the supervisor's side of the arena.
#include <boost/interprocess/creation_tags.hpp>
#include <boost/interprocess/managed_external_buffer.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include <cstring>
#include <new>
#include <string>

namespace procpool::detail {

std::string_view to_string(shared_kind k) noexcept {
  switch (k) {
    case shared_kind::array: return "array";
    case shared_kind::dict: return "dict";
    case shared_kind::queue: return "queue";
    case shared_kind::event: return "event";
    case shared_kind::lock: return "lock";
    case shared_kind::rlock: return "rlock";
  }
  return "unknown";
}

namespace {

constexpr std::size_t storage_align = 4096;
constexpr std::size_t min_storage_bytes = std::size_t{1} << 20U;

std::string quoted(std::string_view name) { return "'" + std::string(name) + "'"; }

}  // namespace

/// The supervisor-side state. A forked worker has a copy of this object but
/// never uses `buffer` (create() refuses anyone but `creator`).
struct shared_state_arena::impl {
  segment seg;  ///< the owner's mapping (empty when attached)
  void* attached = nullptr;  ///< an attached mapping (spawned worker), else null
  std::size_t attached_bytes = 0;
  arena_header* header = nullptr;
  pid_t creator = 0;  ///< 0 when attached: create() refused everywhere
  // The Boost allocator's own metadata lives at the start of the storage area;
  // only the supervisor ever calls it, under header->lock.
  boost::interprocess::managed_external_buffer buffer;

  impl() = default;
  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;
  ~impl() {
    if (attached != nullptr) ::munmap(attached, attached_bytes);
  }

  [[nodiscard]] std::uint8_t* base() const noexcept {
    return static_cast<std::uint8_t*>(attached != nullptr ? attached : seg.data());
  }
};

shared_state_arena::shared_state_arena(bool process_mode, std::size_t bytes)
    : impl_(std::make_unique<impl>()), process_mode_(process_mode) {
  const std::size_t header_bytes =
      (sizeof(arena_header) + storage_align - 1) / storage_align * storage_align;
  if (bytes < header_bytes + min_storage_bytes) {
    throw error(errc::invalid_argument,
                "shared_state_arena: " + std::to_string(bytes) + " bytes is too small (at least " +
                    std::to_string(header_bytes + min_storage_bytes) + ")");
  }
  impl_->seg = segment(process_mode ? segment::kind::shared : segment::kind::private_, bytes);
  impl_->creator = ::getpid();
  auto* base = static_cast<std::uint8_t*>(impl_->seg.data());
  auto* h = new (base) arena_header();
  h->magic = arena_magic;
  h->version = arena_version;
  h->max_objects = static_cast<std::uint32_t>(arena_max_objects);
  h->total_bytes = impl_->seg.size();
  h->storage_offset = header_bytes;
  h->storage_bytes = impl_->seg.size() - header_bytes;
  h->lock.init();
  impl_->header = h;
  try {
    impl_->buffer = boost::interprocess::managed_external_buffer(
        boost::interprocess::create_only, base + h->storage_offset, h->storage_bytes);
  } catch (const std::exception& e) {
    throw error(errc::system, std::string("shared_state_arena: allocator: ") + e.what());
  }
}

shared_state_arena::shared_state_arena(attach_tag /*unused*/, int fd)
    : impl_(std::make_unique<impl>()), process_mode_(true) {
  const auto fail = [](const char* call) {
    const int e = errno;
    throw error(errc::system, std::string("shared_state_arena: attach: ") + call + ": " +
                                  std::strerror(e));
  };
  void* head = ::mmap(nullptr, sizeof(arena_header), PROT_READ, MAP_SHARED, fd, 0);
  if (head == MAP_FAILED) fail("mmap");
  const auto* probe = static_cast<const arena_header*>(head);
  const bool ok = probe->magic == arena_magic && probe->version == arena_version;
  const std::size_t total = probe->total_bytes;
  ::munmap(head, sizeof(arena_header));
  if (!ok) {
    throw error(errc::payload_invalid,
                "shared_state_arena: attach: the descriptor does not hold a procpool "
                "shared-state arena of this version");
  }
  void* base = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) fail("mmap");
  impl_->attached = base;
  impl_->attached_bytes = total;
  impl_->header = static_cast<arena_header*>(base);
}

shared_state_arena::~shared_state_arena() = default;

std::size_t shared_state_arena::size() const noexcept {
  return impl_->attached != nullptr ? impl_->attached_bytes : impl_->seg.size();
}
int shared_state_arena::fd() const noexcept { return impl_->seg.fd(); }
void* shared_state_arena::base() const noexcept { return impl_->base(); }

std::size_t shared_state_arena::free_bytes() const {
  if (impl_->attached != nullptr) return 0;
  arena_header* h = impl_->header;
  robust_lock guard(h->lock, [] {});
  return impl_->buffer.get_free_memory();
}

shared_object shared_state_arena::create(std::string_view name, shared_kind kind,
                                         std::uint64_t type_tag, std::size_t bytes,
                                         std::size_t align,
                                         const std::function<void(void*)>& init) {
  const std::string where = "make_" + std::string(to_string(kind));
  if (name.empty() || name.size() > max_name_bytes || name.find('\0') != std::string_view::npos) {
    throw error(errc::invalid_argument,
                where + ": a shared object's name must be 1 to 63 bytes without NUL, got " +
                    quoted(name));
  }
  if (::getpid() != impl_->creator) {
    throw error(errc::invalid_argument,
                where + ": shared object " + quoted(name) +
                    ": only the supervisor creates shared objects (pool.make_*); workers open them");
  }
  if (align == 0 || (align & (align - 1)) != 0 || align > storage_align) {
    throw error(errc::invalid_argument, where + ": bad alignment " + std::to_string(align));
  }
  arena_header* h = impl_->header;
  std::uint8_t* base = impl_->base();

  // Nothing here can die half-way in another process (only the supervisor
  // allocates), so the creation lock needs no repair beyond consistency.
  robust_lock guard(h->lock, [] {});
  const std::uint32_t n = h->entry_count.load(std::memory_order_relaxed);
  for (std::uint32_t i = 0; i < n; ++i) {
    if (name == h->entries[i].name) {
      throw error(errc::invalid_argument, where + ": shared object " + quoted(name) + " exists (a " +
                                              std::string(to_string(static_cast<shared_kind>(
                                                  h->entries[i].kind))) +
                                              ")");
    }
  }
  if (n >= arena_max_objects) {
    throw error(errc::full, where + ": " + quoted(name) + ": the shared-state directory is full (" +
                                std::to_string(arena_max_objects) + " objects)");
  }
  void* storage = impl_->buffer.allocate_aligned(bytes, align, std::nothrow);
  if (storage == nullptr) {
    throw error(errc::full, where + ": " + quoted(name) + " needs " + std::to_string(bytes) +
                                " bytes; the shared-state arena has " +
                                std::to_string(impl_->buffer.get_free_memory()) + " of " +
                                std::to_string(h->storage_bytes) +
                                " bytes free (raise options::shared_state_bytes)");
  }
  try {
    init(storage);
  } catch (...) {
    impl_->buffer.deallocate(storage);
    throw;
  }
  arena_entry& e = h->entries[n];
  e.kind = static_cast<std::uint32_t>(kind);
  e.type_tag = type_tag;
  e.offset = static_cast<std::uint64_t>(static_cast<std::uint8_t*>(storage) - base);
  e.bytes = bytes;
  std::memset(e.name, 0, sizeof e.name);
  std::memcpy(e.name, name.data(), name.size());
  // The final stores: the entry, then the count readers scan up to.
  e.published.store(1, std::memory_order_release);
  h->entry_count.store(n + 1, std::memory_order_release);
  return shared_object{kind, type_tag, storage, bytes, e.name};
}

shared_object shared_state_arena::find(std::string_view name, shared_kind kind) const {
  arena_header* h = impl_->header;
  std::uint8_t* base = impl_->base();
  const std::uint32_t n = h->entry_count.load(std::memory_order_acquire);
  for (std::uint32_t i = 0; i < n; ++i) {
    arena_entry& e = h->entries[i];
    if (e.published.load(std::memory_order_acquire) == 0 || name != e.name) continue;
    const auto found = static_cast<shared_kind>(e.kind);
    if (found != kind) {
      throw error(errc::invalid_argument, "open " + std::string(to_string(kind)) +
                                              ": shared object " + quoted(name) + " is a " +
                                              std::string(to_string(found)) + ", not a " +
                                              std::string(to_string(kind)));
    }
    return shared_object{found, e.type_tag, base + e.offset, static_cast<std::size_t>(e.bytes),
                         e.name};
  }
  throw error(errc::invalid_argument,
              "open " + std::string(to_string(kind)) + ": no shared object named " + quoted(name));
}

std::vector<std::pair<std::string, shared_kind>> shared_state_arena::list() const {
  std::vector<std::pair<std::string, shared_kind>> out;
  arena_header* h = impl_->header;
  const std::uint32_t n = h->entry_count.load(std::memory_order_acquire);
  for (std::uint32_t i = 0; i < n; ++i) {
    const arena_entry& e = h->entries[i];
    if (e.published.load(std::memory_order_acquire) == 0) continue;
    out.emplace_back(e.name, static_cast<shared_kind>(e.kind));
  }
  return out;
}

}  // namespace procpool::detail
