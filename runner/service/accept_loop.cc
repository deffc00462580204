#include "runner/service/accept_loop.hh"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include <grpcpp/server.h>
#include <grpcpp/server_posix.h>

#include "runner/core/log.hh"
#include "runner/service/socket_trust.hh"

namespace akbuild::service {

void accept_clients(int listener, grpc::Server& server, const std::string& what) {
  while (true) {
    int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      return;  // the listener was shut down
    }
    if (auto peer = check_peer(fd, what); !peer) {
      log_warning("executor: refused a client: {}", peer.error().message);
      ::close(fd);
      continue;
    }
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    grpc::AddInsecureChannelFromFd(&server, fd);  // gRPC owns fd from here
  }
}

} // namespace akbuild::service
