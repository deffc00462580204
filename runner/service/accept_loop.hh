#pragma once
// Unix-socket clients accepted by the daemon itself rather than by gRPC, so each one's uid is
// checked (SO_PEERCRED, socket_trust.hh) before gRPC sees a byte, and so one gRPC server can be
// given the connections of a socket it never listened on (a job environment's).

#include <string>

namespace grpc {
class Server;
}

namespace akbuild::service {

// Accepts clients on `listener` and hands those of this uid to `server` until the listener is
// shut down (shutdown(2) from another thread ends it); refused ones are logged naming `what`.
void accept_clients(int listener, grpc::Server& server, const std::string& what);

} // namespace akbuild::service
