#pragma once
// Opening directories beneath a root without following a symlink on the way. A tree written by
// an earlier step may hold `d/link -> /elsewhere`; a later write to `d/link/x` must fail, not
// land in /elsewhere. Checked where the path is opened, not only when it was planned.

#include <filesystem>
#include <string>
#include <string_view>

#include "runner/core/fs.hh"

namespace akbuild {

// Opens the directory `root/rel` (O_DIRECTORY, close-on-exec), creating missing components
// (mode 0755) when `create`. Resolves with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) where
// the kernel has it (5.6+), else one openat(O_NOFOLLOW) per component. Fails with
// failed_precondition naming the component that is a symlink or not a directory, and with
// invalid_argument when `rel` is absolute or holds `..`. An empty `rel` opens root itself.
Result<UniqueFd> open_dir_beneath(const std::filesystem::path& root, std::string_view rel, bool create);

// The path through which `fd`'s directory is reached without resolving its original path again
// (/proc/self/fd/N): file operations below it stay in that directory even if a component of the
// original path is swapped for a symlink afterwards.
std::filesystem::path fd_path(int fd);

} // namespace akbuild
