// procpool over MPI: one pool on rank 0 of a job started by the site's
// launcher (mpirun, mpiexec, srun --mpi=pmix), every rank running tasks.
//
//   int main(int argc, char** argv) {
//     procpool::mpi::serve_if_agent(argc, argv);  // ranks != 0 serve, then exit
//     procpool::pool pool(procpool::options{}.with_backend(procpool::backend_kind::mpi));
//     ...                                          // rank 0: the ordinary pool API
//   }
//
// Every rank runs the same program (its task registry is compared at start).
// One MPI pool per process: MPI cannot be initialised again once finalized.
#pragma once

namespace procpool::mpi {

/// On an agent rank (a rank other than 0, as the launcher's environment
/// says): initialises MPI, greets rank 0, runs rank 0's tasks on this node's
/// workers until rank 0's pool ends, finalizes MPI and exits the process (0;
/// 1 if rank 0 refused this rank or its workers could not start; 0 with a
/// note if rank 0 ended without making an MPI pool). On rank 0 or without a
/// launcher: returns at once (rank 0 tells the agents at exit if it made no
/// MPI pool, so that they do not wait for one for ever). Also does what
/// run_worker_if_requested does (agents start their workers as fresh
/// programs). Blocks (agents: until the job ends). Call it first in main(),
/// from the main thread, before any pool exists.
void serve_if_agent(int argc, char** argv);

/// The exit code rank 0 ends the job with when it has to end it through
/// MPI_Abort: a rank was lost (silent past options::mpi_heartbeat_limit), and
/// MPI_Finalize would wait for it for ever. 1 unless set. Call it before the
/// pool is destroyed, with the code the program is about to exit with (the
/// procpool command passes its own exit code). Thread-safe.
void set_abort_exit_code(int code) noexcept;

/// Whether this build has the MPI backend (PROCPOOL_WITH_MPI). Thread-safe.
[[nodiscard]] bool available() noexcept;

/// This process's rank as its launcher's environment gives it (Open MPI,
/// PMIx, MPICH's Hydra, Slurm), or -1 when not started by a launcher.
/// Thread-safe; does not initialise MPI.
[[nodiscard]] int launcher_rank() noexcept;

}  // namespace procpool::mpi
