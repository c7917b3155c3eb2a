#include <procpool/shared/detail/segment.hpp>
#include <procpool/shared/error.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

namespace procpool::detail {
namespace {
[[noreturn]] void fail(const char* call) {
  const int e = errno;
  throw error(errc::system, std::string("segment: ") + call + ": " + std::strerror(e));
}
}  // namespace

segment::segment(kind k, std::size_t bytes) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  size_ = (bytes + page - 1) / page * page;
  if (k == kind::shared) {
    // No name on disk: nothing can outlive the last process holding it.
    fd_ = ::memfd_create("procpool", MFD_CLOEXEC);
    if (fd_ < 0) fail("memfd_create");
    if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
      reset();
      fail("ftruncate");
    }
    void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (p == MAP_FAILED) {
      reset();
      fail("mmap");
    }
    data_ = p;
  } else {
    void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      size_ = 0;
      fail("mmap");
    }
    data_ = p;
  }
}

segment::segment(segment&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      fd_(std::exchange(other.fd_, -1)) {}

segment& segment::operator=(segment&& other) noexcept {
  if (this != &other) {
    reset();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

segment::~segment() { reset(); }

void segment::reset() noexcept {
  if (data_ != nullptr) ::munmap(data_, size_);
  if (fd_ >= 0) ::close(fd_);
  data_ = nullptr;
  size_ = 0;
  fd_ = -1;
}

}  // namespace procpool::detail
