// The one place that chooses a backend for a pool's options.
#include "arguments.hpp"
#include "backend/backend.hpp"
#include "backend/local_backend.hpp"
#include "backend/mpi/mpi_backend_factory.hpp"

namespace procpool::detail {

std::unique_ptr<backend> make_backend(const options& opts) {
  validate_options(opts);
  if (opts.backend == backend_kind::mpi) return mpi::make_mpi_backend(opts);
  switch (opts.mode) {
    case mode::thread:
      return std::make_unique<local_backend>(opts, segment::kind::private_, &make_thread_launcher);
    case mode::process:
      return std::make_unique<local_backend>(opts, segment::kind::shared, &make_process_launcher);
  }
  throw error(errc::invalid_argument, "pool::pool: options::mode is not a known mode");
}

}  // namespace procpool::detail
