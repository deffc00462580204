#pragma once
// Unix-socket clients accepted by the daemon itself rather than by gRPC, so each one's uid is
// checked (SO_PEERCRED, socket_trust.hh) before gRPC sees a byte, and so one gRPC server can be
// given the connections of a socket it never listened on (a job environment's).

#include <filesystem>
#include <string>

#include "runner/core/fs.hh"
#include "runner/core/result.hh"

namespace grpc {
class Server;
}

namespace akbuild::service {

// A listening unix socket at `path` for `backlog` waiting clients, mode 0600 before it listens
// (so no client connects in between, and no umask is changed under other threads). Bound
// through its directory's fd, so a path longer than sun_path's 108 bytes works; a socket file
// already there (one no daemon answers: the caller checks) is replaced, anything else fails.
// Both its callers keep the socket in a directory only the daemon's user may write.
Result<UniqueFd> listen_unix(const std::filesystem::path& path, int backlog);

// Accepts clients on `listener` and hands those of this uid to `server` until the listener is
// shut down (shutdown(2) from another thread ends it); refused ones are logged naming `what`.
void accept_clients(int listener, grpc::Server& server, const std::string& what);

} // namespace akbuild::service
