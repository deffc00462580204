#include "runner/service/socket_trust.hh"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <fmt/core.h>

namespace akbuild::service {

namespace fs = std::filesystem;

Result<> check_socket_dir(const fs::path& dir) {
  struct stat st{};
  if (::lstat(dir.c_str(), &st) != 0) return fail(errno_error(dir.string()));
  if (!S_ISDIR(st.st_mode))
    return fail(ErrorCode::permission_denied, fmt::format("{}: socket dir is not a directory (a symlink?)", dir.string()));
  if (st.st_uid != ::geteuid() && st.st_uid != 0)
    return fail(ErrorCode::permission_denied,
                fmt::format("{}: socket dir belongs to uid {}, not to this user (uid {})", dir.string(), st.st_uid,
                            ::geteuid()));
  if ((st.st_mode & 0022) != 0 && (st.st_mode & S_ISVTX) == 0)
    return fail(ErrorCode::permission_denied,
                fmt::format("{}: socket dir is writable by others (mode {:o})", dir.string(), st.st_mode & 07777));
  return ok();
}

Result<> check_socket(const fs::path& socket) {
  AK_TRY_VOID(check_socket_dir(socket.parent_path()));
  struct stat st{};
  if (::lstat(socket.c_str(), &st) != 0) return fail(errno_error(socket.string()));
  if (!S_ISSOCK(st.st_mode))
    return fail(ErrorCode::permission_denied, fmt::format("{}: not a unix socket", socket.string()));
  if (st.st_uid != ::geteuid())
    return fail(ErrorCode::permission_denied,
                fmt::format("{}: socket belongs to uid {}, not to this user (uid {})", socket.string(), st.st_uid,
                            ::geteuid()));
  return ok();
}

Result<> check_peer(int fd, const std::string& what) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    return fail(errno_error(fmt::format("{}: peer credentials", what)));
  if (cred.uid != ::geteuid())
    return fail(ErrorCode::permission_denied,
                fmt::format("{}: the peer runs as uid {}, not as this user (uid {})", what, cred.uid, ::geteuid()));
  return ok();
}

Result<UniqueFd> connect_trusted(const fs::path& socket) {
  AK_TRY_VOID(check_socket(socket));
  sockaddr_un addr{};
  if (socket.native().size() >= sizeof addr.sun_path)
    return fail(ErrorCode::invalid_argument, socket.string() + ": socket path too long");
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fail(errno_error("socket"));
  addr.sun_family = AF_UNIX;
  std::copy(socket.native().begin(), socket.native().end(), addr.sun_path);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return fail(errno_error(fmt::format("connect {}", socket.string())));
  AK_TRY_VOID(check_peer(fd.get(), socket.string()));
  return fd;
}

} // namespace akbuild::service
