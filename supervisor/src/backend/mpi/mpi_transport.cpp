// Nonblocking sends and matched receives (see mpi_transport.hpp).
#include "backend/mpi/mpi_transport.hpp"

#include <procpool/shared/error.hpp>

#include <mpi.h>

#include <limits>
#include <string>
#include <utility>

namespace procpool::detail::mpi {

struct transport::pending_send {
  std::vector<std::uint8_t> bytes;
  MPI_Request request = MPI_REQUEST_NULL;
};

transport::~transport() {
  // Sends still going when MPI ends are cancelled: the peer is gone or ending.
  for (pending_send* s : sends_) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized == 0 && s->request != MPI_REQUEST_NULL) {
      MPI_Cancel(&s->request);
      MPI_Request_free(&s->request);
    }
    delete s;
  }
}

void transport::send(int dest, wire_tag tag, std::vector<std::uint8_t> bytes) {
  if (bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw error(errc::too_large, "mpi: a message over 2 GiB");
  }
  auto* s = new pending_send{std::move(bytes), MPI_REQUEST_NULL};
  const int rc = MPI_Isend(s->bytes.data(), static_cast<int>(s->bytes.size()), MPI_BYTE, dest,
                           static_cast<int>(tag), MPI_COMM_WORLD, &s->request);
  if (rc != MPI_SUCCESS) {
    delete s;
    throw error(errc::system, "mpi: MPI_Isend to rank " + std::to_string(dest) + " failed");
  }
  sends_.push_back(s);
}

bool transport::progress() {
  bool any = false;
  for (auto it = sends_.begin(); it != sends_.end();) {
    int done = 0;
    MPI_Test(&(*it)->request, &done, MPI_STATUS_IGNORE);
    if (done == 0) {
      ++it;
      continue;
    }
    delete *it;
    it = sends_.erase(it);
    any = true;
  }
  return any;
}

std::optional<incoming> transport::receive(int source) {
  int found = 0;
  MPI_Message msg = MPI_MESSAGE_NULL;
  MPI_Status status;
  MPI_Improbe(source < 0 ? MPI_ANY_SOURCE : source, MPI_ANY_TAG, MPI_COMM_WORLD, &found, &msg, &status);
  if (found == 0) return std::nullopt;
  int count = 0;
  MPI_Get_count(&status, MPI_BYTE, &count);
  incoming in;
  in.source = status.MPI_SOURCE;
  in.tag = static_cast<wire_tag>(status.MPI_TAG);
  in.bytes.resize(static_cast<std::size_t>(count));
  MPI_Mrecv(in.bytes.data(), count, MPI_BYTE, &msg, MPI_STATUS_IGNORE);
  return in;
}

}  // namespace procpool::detail::mpi
