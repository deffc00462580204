#pragma once
// Whether a unix socket of the executor can be trusted, on both ends. The default socket dir
// (/tmp/akbuild-$UID without XDG_RUNTIME_DIR) can be created first by another user, who would
// then receive this user's steps and secrets; so each side checks who owns what:
//   the dir     a real directory (not a symlink) owned by this uid or root, writable by no one
//               else unless sticky;
//   the socket  owned by this uid;
//   the peer    SO_PEERCRED: the process at the other end runs as this uid. Root is no
//               exception either way: a root client would hand its secrets to the daemon's
//               user, and a daemon gives its clients its own rights.

#include <filesystem>

#include "runner/core/fs.hh"

namespace akbuild::service {

// The checks of the socket dir; permission_denied naming the dir, its owner and mode.
Result<> check_socket_dir(const std::filesystem::path& dir);

// The checks of the dir and the socket file at `socket`; not_found when it does not exist.
Result<> check_socket(const std::filesystem::path& socket);

// Whether the process at the other end of the connected unix socket `fd` runs as this uid.
Result<> check_peer(int fd, const std::string& what);

// Connects to the socket after check_socket, and checks the peer.
Result<UniqueFd> connect_trusted(const std::filesystem::path& socket);

} // namespace akbuild::service
