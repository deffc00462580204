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

// While alive, read_file (core/fs.hh) on this thread reads a path lexically beneath `root` without
// following a symlink anywhere below `root`, the last component included (a symlink there is
// failed_precondition naming it): for a confined client's workspace, whose files a kind reads
// (go.mod, a lockfile) with more rights than the job that wrote them has. Nests; paths elsewhere
// are read as before.
class ReadsBeneath {
public:
  explicit ReadsBeneath(std::filesystem::path root);
  ~ReadsBeneath();
  ReadsBeneath(const ReadsBeneath&) = delete;
  ReadsBeneath& operator=(const ReadsBeneath&) = delete;

private:
  std::filesystem::path m_root;
  const std::filesystem::path* m_outer;
};

// The innermost ReadsBeneath root of this thread, or nullptr.
const std::filesystem::path* reads_beneath_root();

// Opens the file `root/rel` for reading, beneath `root` without following any symlink.
Result<UniqueFd> open_file_beneath(const std::filesystem::path& root, const std::filesystem::path& rel);

// The path through which `fd`'s directory is reached without resolving its original path again
// (/proc/self/fd/N): file operations below it stay in that directory even if a component of the
// original path is swapped for a symlink afterwards.
std::filesystem::path fd_path(int fd);

} // namespace akbuild
