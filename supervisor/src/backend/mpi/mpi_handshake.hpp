// The start of an MPI pool: every agent rank says who it is (host, pid,
// version, a hash of its task registry); rank 0 refuses a mismatch with a
// clear error, or sends the pool's options; each agent then says whether its
// local backend is up.
#pragma once

#include "backend/mpi/mpi_session.hpp"
#include "backend/mpi/mpi_transport.hpp"
#include "backend/mpi/mpi_wire.hpp"

#include <procpool/supervisor/options.hpp>

#include <optional>
#include <string>
#include <vector>

namespace procpool::detail::mpi {

/// This process's hello.
[[nodiscard]] hello my_hello();

/// Rank 0: greets every agent; returns their hellos, by rank (index 0: rank
/// 0's own). Blocks (polling) up to opts.start_timeout for each step. Throws
/// procpool::error naming the rank and host of a mismatch, of an agent whose
/// local backend failed, or of a silent rank; the agents were told to end.
[[nodiscard]] std::vector<hello> greet_agents(transport& t, const world& w, const options& opts);

/// An agent: sends its hello, waits for rank 0's answer. Returns the options
/// its local backend is made from, or nothing when rank 0 ended without an MPI
/// pool (release_agents); throws procpool::error with rank 0's refusal.
[[nodiscard]] std::optional<options> await_welcome(transport& t);
/// Rank 0, at exit, when it never initialised MPI (it made no MPI pool: a
/// command line without --backend mpi, --help, a refused input): initialises
/// MPI, tells every agent, which waits for a pool, that there is none, and
/// finalizes. Without it the agents would wait for ever and the launcher with
/// them. Never throws.
void release_agents() noexcept;
/// An agent: says its local backend is up (empty `failure`) or why not.
void send_ready(transport& t, const std::string& failure);

/// Waits (polling) until every send went.
void flush(transport& t);

}  // namespace procpool::detail::mpi
