// The per-pool shared-state arena: one segment holding every shared container
// (shared_array, shared_dict, shared_queue, event, lock, rlock) of a pool.
//
// Lifecycle
// ---------
// The supervisor constructs the arena with the pool, before any worker (or the
// fork server) exists: process mode maps a memfd MAP_SHARED, thread mode private
// anonymous memory; pages are touched lazily. Forked workers inherit the mapping
// at the same address, so a container handle (a pointer into the mapping) made
// in the supervisor is valid in every worker, and objects created after the
// workers started are visible to them too. The destructor unmaps it; nothing is
// left on disk.
//
// Layout (offsets from the base; nothing in it is a pointer):
//
//   +----------------------------------------------------------------+
//   | arena_header: magic, version, sizes, robust creation lock,       |
//   |   entry_count, directory[max_objects]:                           |
//   |   { published, kind, type_tag, offset, bytes, name[64] }        |
//   +----------------------------------------------------------------+
//   | storage: Boost.Interprocess managed_external_buffer, used by the  |
//   |   supervisor only; each container is one block, never freed     |
//   +----------------------------------------------------------------+
//
// Who writes what: only the supervisor process allocates (create()); it fills
// a directory entry, initialises the container, and publishes the entry with a
// release store of `published` (then of entry_count). Everyone (supervisor and
// workers) finds containers by name with find(), which reads the directory
// without a lock. A worker never calls into the allocator (DESIGN.md section
// 4): every container's capacity is preallocated at creation, and worker
// operations write only inside that container's own fixed, repairable storage.
// create() from a forked worker is refused.
//
// Spawned (exec'd) workers do not inherit the mapping: they attach to the memfd
// the supervisor passes down (the attach constructor). The mapping then lands at
// another address; nothing in the arena is a pointer, so find() works the same,
// and handles opened there are valid in that process.
#pragma once

#include <procpool/shared/detail/robust_mutex.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace procpool::detail {

/// What a directory entry holds.
enum class shared_kind : std::uint32_t {
  array = 1,
  dict = 2,
  queue = 3,
  event = 4,
  lock = 5,
  rlock = 6,
};
[[nodiscard]] std::string_view to_string(shared_kind k) noexcept;

inline constexpr std::uint64_t arena_magic = 0x6174617473707070ULL;  // "pppstata"
inline constexpr std::uint32_t arena_version = 1;

struct arena_entry {
  std::atomic<std::uint32_t> published{0};  ///< 1 once everything below is final
  std::uint32_t kind = 0;                   ///< shared_kind
  std::uint64_t type_tag = 0;               ///< shared_array: element type; else 0
  std::uint64_t offset = 0;                 ///< of the container, from the arena base
  std::uint64_t bytes = 0;
  char name[64] = {};                       ///< NUL-terminated
};
static_assert(sizeof(arena_entry) == 96);

inline constexpr std::size_t arena_max_objects = 256;

struct arena_header {
  std::uint64_t magic = 0;
  std::uint32_t version = 0;
  std::uint32_t max_objects = 0;
  std::uint64_t total_bytes = 0;
  std::uint64_t storage_offset = 0;
  std::uint64_t storage_bytes = 0;
  std::atomic<std::uint32_t> entry_count{0};  ///< entries [0, entry_count) are published
  alignas(64) robust_mutex lock;              ///< serialises create() (supervisor threads)
  alignas(64) arena_entry entries[arena_max_objects];
};

/// A found or created object.
struct shared_object {
  shared_kind kind{};
  std::uint64_t type_tag = 0;
  void* storage = nullptr;
  std::size_t bytes = 0;
  const char* name = nullptr;  ///< the directory's copy (lives as long as the arena)
};

class shared_state_arena {
 public:
  /// 64 MiB: the default of the pool option shared_state_bytes.
  static constexpr std::size_t default_bytes = std::size_t{64} << 20U;
  static constexpr std::size_t max_objects = arena_max_objects;
  static constexpr std::size_t max_name_bytes = 63;

  /// Maps `bytes` (rounded up to a page; at least 1 MiB) of zeroed memory,
  /// shared (memfd) if `process_mode`, private otherwise, and initialises the
  /// header and the allocator. Throws procpool::error(errc::invalid_argument)
  /// if `bytes` is too small or (errc::system) if mapping fails.
  shared_state_arena(bool process_mode, std::size_t bytes = default_bytes);

  struct attach_tag {};
  /// A spawned worker's view: maps the arena in memfd `fd` (fd() of the
  /// supervisor's arena, passed down; not closed here). create() is refused on
  /// it. Throws procpool::error: system if mapping fails, payload_invalid if
  /// `fd` does not hold an arena of this version.
  shared_state_arena(attach_tag, int fd);
  ~shared_state_arena();
  shared_state_arena(const shared_state_arena&) = delete;
  shared_state_arena& operator=(const shared_state_arena&) = delete;
  shared_state_arena(shared_state_arena&&) = delete;
  shared_state_arena& operator=(shared_state_arena&&) = delete;

  /// Supervisor only. Allocates `bytes` aligned to `align` (a power of two, at
  /// most 4096), runs `init(storage)` (which must initialise every byte it
  /// relies on), then publishes the entry. Blocks briefly (creation lock);
  /// thread-safe. Throws procpool::error: invalid_argument for an empty name, a
  /// name over 63 bytes, a name already in use ("shared object 'x' exists") or a
  /// call from a worker process; full when the directory or the storage is full
  /// (the message gives the sizes); whatever `init` throws (nothing is published
  /// and the block is freed).
  shared_object create(std::string_view name, shared_kind kind, std::uint64_t type_tag,
                       std::size_t bytes, std::size_t align,
                       const std::function<void(void*)>& init);

  /// Finds a published object. Non-blocking, lock-free, thread-safe, callable in
  /// any process of the pool. Throws procpool::error(invalid_argument): "no
  /// shared object named 'x'", or "shared object 'x' is a dict, not a queue".
  [[nodiscard]] shared_object find(std::string_view name, shared_kind kind) const;

  /// Every published object's name and kind, in creation order.
  [[nodiscard]] std::vector<std::pair<std::string, shared_kind>> list() const;

  [[nodiscard]] bool process_mode() const noexcept { return process_mode_; }
  /// Bytes of the mapping.
  [[nodiscard]] std::size_t size() const noexcept;
  /// Storage bytes not yet allocated (supervisor's view; 0 in an attached arena).
  [[nodiscard]] std::size_t free_bytes() const;
  /// The memfd in process mode (for a spawned worker to attach to), else -1.
  /// Close-on-exec: the launcher must pass it down explicitly.
  [[nodiscard]] int fd() const noexcept;
  [[nodiscard]] void* base() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
  bool process_mode_;
};

/// FNV-1a 64 of `bytes` (stable across processes and builds).
[[nodiscard]] constexpr std::uint64_t fnv1a64(std::string_view bytes) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace procpool::detail
