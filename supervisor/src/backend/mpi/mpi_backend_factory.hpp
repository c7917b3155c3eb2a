// The MPI backend's factory, declared apart from its class so that
// make_backend.cpp needs no MPI header (a build without MPI links a stub).
#pragma once

#include "backend/backend.hpp"

#include <memory>

namespace procpool::detail::mpi {

/// Rank 0's backend for options::backend = mpi: the local backend first (its
/// fork server before MPI_Init), then MPI and the greeting of every rank.
/// Throws procpool::error: built without MPI, a rank refused, a rank silent.
[[nodiscard]] std::unique_ptr<backend> make_mpi_backend(const options& opts);

}  // namespace procpool::detail::mpi
