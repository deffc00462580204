#pragma once
// What a client on a job environment's own executor socket may name: paths beneath that
// environment's directory only. The daemon often runs as root and a sandboxed job's uid maps to
// the daemon's user, so the socket's peer check alone would let a job have the daemon read and
// write anywhere; the scope is what confines it.

#include <filesystem>
#include <string>
#include <string_view>

#include "runner/core/fs.hh"
#include "runner/core/result.hh"

namespace akbuild::service {

struct ClientScope {
  std::filesystem::path dir;  // the environment's directory (absolute, normal)
};

// Ok when `path` is absolute, holds no `.` or `..` component, lies beneath scope.dir and no
// component below scope.dir is a symlink; the last one a directory when `directory`, else
// anything but a symlink. Else permission_denied in one line naming `what` and `path`.
Result<> check_within(const ClientScope& scope, std::string_view what, const std::string& path, bool directory);

// check_within for a directory, returning it open: the directory that was checked, whatever its
// path names later (the job may swap a component for a symlink once the check is done).
Result<UniqueFd> open_within(const ClientScope& scope, std::string_view what, const std::string& path);

// Whether `path` names scope.dir or a path beneath it, by its text alone.
bool lexically_within(const ClientScope& scope, const std::filesystem::path& path);

} // namespace akbuild::service
