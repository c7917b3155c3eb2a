// procpool::pool_stats: a snapshot of a pool's counters.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace procpool {

/// One rank of the MPI backend (pool_stats::ranks).
struct rank_stats {
  int rank = 0;
  std::string host;
  int pid = 0;                    ///< the rank's process
  std::size_t workers_alive = 0;  ///< as the rank last reported
  std::size_t in_flight = 0;      ///< tasks sent to the rank, not yet reported back
  std::size_t max_in_flight = 0;  ///< the most it ever held (at most its credits)
  std::size_t credits = 0;        ///< its workers + options::mpi_prefetch
  std::size_t finished = 0;       ///< outcomes it reported
};

struct pool_stats {
  std::size_t workers_alive = 0;    ///< started and not yet reaped
  std::size_t workers_idle = 0;     ///< alive, ready, waiting for work
  std::size_t workers_started = 0;  ///< every worker ever started
  std::size_t worker_exits = 0;     ///< workers that exited cleanly (close, recycling)
  std::size_t worker_deaths = 0;    ///< workers that died (signal or unexpected exit)
  std::size_t start_failures = 0;   ///< workers that died before they were ready
  std::size_t submitted = 0;        ///< tasks accepted
  std::size_t queued = 0;           ///< accepted, not yet claimed by a worker
  std::size_t running = 0;          ///< claimed by a worker, not yet finished
  std::size_t done = 0;
  std::size_t failed = 0;
  std::size_t timed_out = 0;
  std::size_t crashed = 0;
  std::size_t cancelled = 0;
  std::size_t callback_errors = 0;  ///< on_done/on_error callbacks that threw
  std::vector<rank_stats> ranks;    ///< MPI backend: one row per rank (empty otherwise)
};

}  // namespace procpool
