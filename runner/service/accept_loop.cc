#include "runner/service/accept_loop.hh"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include <grpcpp/server.h>
#include <grpcpp/server_posix.h>

#include "runner/core/beneath.hh"
#include "runner/core/log.hh"
#include "runner/service/socket_trust.hh"

namespace akbuild::service {

Result<UniqueFd> listen_unix(const std::filesystem::path& path, int backlog) {
  auto dir = AK_TRY(open_fd(path.parent_path(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  std::string name = path.filename().string();
  std::string via = (fd_path(dir.get()) / name).string();
  sockaddr_un addr{};
  if (via.size() >= sizeof addr.sun_path) return fail(ErrorCode::invalid_argument, path.string() + ": socket name too long");
  struct stat st {};
  if (::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISSOCK(st.st_mode))
    ::unlinkat(dir.get(), name.c_str(), 0);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fail(errno_error("socket"));
  addr.sun_family = AF_UNIX;
  std::copy(via.begin(), via.end(), addr.sun_path);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return fail(errno_error("bind " + path.string()));
  if (::fchmodat(dir.get(), name.c_str(), 0600, 0) != 0) return fail(errno_error("chmod " + path.string()));
  if (::listen(fd.get(), backlog) != 0) return fail(errno_error("listen " + path.string()));
  return fd;
}

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
