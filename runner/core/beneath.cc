#include "runner/core/beneath.hh"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/core.h>

namespace akbuild {

namespace fs = std::filesystem;

namespace {

constexpr int k_dir_flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;

// openat2 beneath `dirfd` with no symlink anywhere; -1 with errno (ENOSYS on old kernels).
int open_beneath(int dirfd, const std::string& rel) {
  open_how how{};
  how.flags = k_dir_flags;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(::syscall(SYS_openat2, dirfd, rel.c_str(), &how, sizeof how));
}

Error not_a_directory(std::string_view rel, const std::string& component, int dirfd, const std::string& name) {
  struct stat st{};
  bool link = ::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
  return Error{ErrorCode::failed_precondition,
               fmt::format("{}: {} is {}", rel, component, link ? "a symlink, not a directory" : "not a directory")};
}

} // namespace

namespace {
thread_local const fs::path* t_reads_root = nullptr;
} // namespace

ReadsBeneath::ReadsBeneath(fs::path root) : m_root(std::move(root)), m_outer(t_reads_root) { t_reads_root = &m_root; }

ReadsBeneath::~ReadsBeneath() { t_reads_root = m_outer; }

const fs::path* reads_beneath_root() { return t_reads_root; }

Result<UniqueFd> open_file_beneath(const fs::path& root, const fs::path& rel) {
  auto dir = AK_TRY(open_dir_beneath(root, rel.parent_path().string(), false));
  int fd = ::openat(dir.get(), rel.filename().c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ELOOP)
      return fail(ErrorCode::failed_precondition, fmt::format("{}: a symlink, not followed here", rel.string()));
    return fail(errno_error((root / rel).string()));
  }
  UniqueFd file(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail(errno_error((root / rel).string()));
  if (!S_ISREG(st.st_mode)) return fail(ErrorCode::failed_precondition, fmt::format("{}: not a regular file", rel.string()));
  return file;
}

fs::path fd_path(int fd) { return fs::path("/proc/self/fd") / std::to_string(fd); }

Result<UniqueFd> open_dir_beneath(const fs::path& root, std::string_view rel, bool create) {
  std::string clean = strip_trailing_slashes(rel);
  if (!clean.empty() && clean != "." && !is_contained_relative_path(clean))
    return fail(ErrorCode::invalid_argument, fmt::format("{}: escapes {}", rel, root.string()));
  auto dir = AK_TRY(open_fd(root, k_dir_flags));
  if (clean.empty() || clean == ".") return dir;
  int fd = open_beneath(dir.get(), clean);
  if (fd >= 0) return UniqueFd(fd);
  // Old kernel, or a component missing (to create) or refused (to name): walk it.
  std::string walked;
  for (const auto& part : fs::path(clean)) {
    std::string name = part.string();
    if (name.empty() || name == ".") continue;
    walked += (walked.empty() ? "" : "/") + name;
    int next = ::openat(dir.get(), name.c_str(), k_dir_flags | O_NOFOLLOW);
    if (next < 0 && errno == ENOENT && create) {
      if (::mkdirat(dir.get(), name.c_str(), 0755) != 0 && errno != EEXIST)
        return fail(errno_error(fmt::format("mkdir {}", (root / walked).string())));
      next = ::openat(dir.get(), name.c_str(), k_dir_flags | O_NOFOLLOW);
    }
    if (next < 0) {
      if (errno == ELOOP || errno == ENOTDIR) return fail(not_a_directory(rel, walked, dir.get(), name));
      return fail(errno_error((root / walked).string()));
    }
    dir.reset(next);
  }
  return dir;
}

} // namespace akbuild
