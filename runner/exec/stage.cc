// stage_inputs (declared in sandbox.hh): fills an input root from a file map.
// Links, copies and directory creation never follow a symlink inside the root, so a staged
// symlink cannot redirect a later file outside of it.

#include "runner/exec/sandbox.hh"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include <fmt/core.h>

#include "runner/core/beneath.hh"
#include "runner/core/fs.hh"
#include "runner/exec/stage.hh"

namespace akbuild::exec {

namespace fs = std::filesystem;

namespace {

// Copies file content: a reflink (FICLONE) where the filesystem shares extents, else
// copy_file_range (in-kernel, server-side on NFS), else read/write.
Result<> copy_content(int in, int out, const fs::path& src) {
  if (::ioctl(out, FICLONE, in) == 0) return ok();
  bool use_range = true;
  std::vector<char> buf;
  while (true) {
    ssize_t n = -1;
    if (use_range) {
      n = ::copy_file_range(in, nullptr, out, nullptr, 1 << 30, 0);
      if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
        use_range = false;
        continue;
      }
    } else {
      if (buf.empty()) buf.resize(1 << 20);
      n = ::read(in, buf.data(), buf.size());
      if (n > 0) AK_TRY_VOID(write_all(out, std::as_bytes(std::span(buf.data(), static_cast<std::size_t>(n)))));
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(errno_error(fmt::format("copy {}", src.string())));
    }
    if (n == 0) return ok();
  }
}

Result<> copy_file(const fs::path& src, const fs::path& dest, mode_t mode) {
  auto in = AK_TRY(open_fd(src, O_RDONLY | O_CLOEXEC));
  auto out = AK_TRY(open_fd(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode & 07777));
  AK_TRY_VOID(copy_content(in.get(), out.get(), src));
  if (::fchmod(out.get(), mode & 07777) != 0) return fail(errno_error(fmt::format("chmod {}", dest.string())));
  return ok();
}

} // namespace

Result<> make_dirs_within(const fs::path& root, std::string_view rel) {
  AK_TRY_VOID(open_dir_beneath(root, rel, true));
  return ok();
}

Result<> stage_inputs(const fs::path& input_root, const std::map<std::string, fs::path>& files) {
  AK_TRY_VOID(make_dirs(input_root));
  for (const auto& [rel_in, src] : files) {
    std::string rel = strip_trailing_slashes(rel_in);
    if (!is_contained_relative_path(rel))
      return fail(ErrorCode::invalid_argument, fmt::format("input path {}: escapes the input root", rel_in));
    fs::path rel_path(rel);
    AK_TRY_VOID(make_dirs_within(input_root, rel_path.parent_path().string()));
    fs::path dest = input_root / rel_path;

    struct stat st{};
    if (::lstat(src.c_str(), &st) != 0) return fail(errno_error(fmt::format("input {}: {}", rel, src.string())));
    if (S_ISDIR(st.st_mode)) {
      AK_TRY_VOID(make_dirs_within(input_root, rel));
    } else if (S_ISLNK(st.st_mode)) {
      std::error_code ec;
      fs::path target = fs::read_symlink(src, ec);
      if (ec) return fail(ErrorCode::io, fmt::format("input {}: readlink {}: {}", rel, src.string(), ec.message()));
      if (::symlink(target.c_str(), dest.c_str()) != 0) return fail(errno_error(fmt::format("input {}", rel)));
    } else if (S_ISREG(st.st_mode)) {
      if (::link(src.c_str(), dest.c_str()) == 0) continue;
      int err = errno;
      // Another filesystem, or a file we may not link (protected_hardlinks): copy instead.
      if (err != EXDEV && err != EPERM && err != EMLINK && err != EACCES)
        return fail(errno_error(fmt::format("input {}: link {}", rel, src.string()), err));
      AK_TRY_VOID(copy_file(src, dest, st.st_mode));
    } else {
      return fail(ErrorCode::invalid_argument,
                  fmt::format("input {}: {} is not a regular file, directory or symlink", rel, src.string()));
    }
  }
  return ok();
}

} // namespace akbuild::exec
