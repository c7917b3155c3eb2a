// Nonblocking point-to-point messages over MPI_COMM_WORLD: sends are
// MPI_Isend with the buffer owned until MPI_Test says it went; receives are a
// matched probe (MPI_Improbe) and MPI_Mrecv of a message already there. No
// call waits inside MPI: the caller polls with mpi::backoff.
//
// Thread-safety: none; one thread per process talks MPI.
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <vector>

namespace procpool::detail::mpi {

/// Message tags of procpool's protocol.
enum class wire_tag : int {
  hello = 1,    ///< agent -> 0: host, pid, version, registry hash
  welcome = 2,  ///< 0 -> agent: the pool's options, or a refusal
  ready = 3,    ///< agent -> 0: its local backend is up (or why not)
  tasks = 4,    ///< 0 -> agent: a batch of task messages
  results = 5,  ///< agent -> 0: a batch of outcomes and the agent's state
  control = 6,  ///< 0 -> agent: close, drop, stop, end
};

struct incoming {
  int source = 0;
  wire_tag tag = wire_tag::hello;
  std::vector<std::uint8_t> bytes;
};

class transport {
 public:
  transport() = default;
  ~transport();
  transport(const transport&) = delete;
  transport& operator=(const transport&) = delete;

  /// Starts sending `bytes` to `dest`; the buffer is kept until it went.
  void send(int dest, wire_tag tag, std::vector<std::uint8_t> bytes);
  /// Completes the sends that went; true if one did.
  bool progress();
  /// Whether a send has not completed yet.
  [[nodiscard]] bool sends_pending() const noexcept { return !sends_.empty(); }
  /// A message that has arrived, if any (from `source`, or anyone with -1).
  [[nodiscard]] std::optional<incoming> receive(int source = -1);

 private:
  struct pending_send;
  std::list<pending_send*> sends_;
};

}  // namespace procpool::detail::mpi
