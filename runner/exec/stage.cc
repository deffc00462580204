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
#include "runner/core/walk.hh"
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

} // namespace

Result<> make_dirs_within(const fs::path& root, std::string_view rel) {
  AK_TRY_VOID(open_dir_beneath(root, rel, true));
  return ok();
}

namespace {

// Stages one entry, `name` in the directory `src_dir` (shown as `src`), at `rel` in the input
// root, without following a symlink on either side.
Result<> stage_entry(const fs::path& input_root, const std::string& rel, int src_dir, const char* name,
                     const fs::path& src) {
  fs::path rel_path(rel);
  AK_TRY_VOID(make_dirs_within(input_root, rel_path.parent_path().string()));
  fs::path dest = input_root / rel_path;
  struct stat st{};
  if (::fstatat(src_dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
    return fail(errno_error(fmt::format("input {}: {}", rel, src.string())));
  if (S_ISDIR(st.st_mode)) return make_dirs_within(input_root, rel);
  if (S_ISLNK(st.st_mode)) {
    auto target = AK_TRY(read_link_at(src_dir, name, static_cast<std::uint64_t>(st.st_size)).map_error([&](Error e) {
      return e.context(fmt::format("input {}: readlink {}", rel, src.string()));
    }));
    if (::symlink(target.c_str(), dest.c_str()) != 0) return fail(errno_error(fmt::format("input {}", rel)));
    return ok();
  }
  if (!S_ISREG(st.st_mode))
    return fail(ErrorCode::invalid_argument,
                fmt::format("input {}: {} is not a regular file, directory or symlink", rel, src.string()));
  if (::linkat(src_dir, name, AT_FDCWD, dest.c_str(), 0) == 0) return ok();
  int err = errno;
  // Another filesystem, or a file we may not link (protected_hardlinks): copy instead.
  if (err != EXDEV && err != EPERM && err != EMLINK && err != EACCES)
    return fail(errno_error(fmt::format("input {}: link {}", rel, src.string()), err));
  int in = ::openat(src_dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (in < 0) return fail(errno_error(fmt::format("input {}: {}", rel, src.string())));
  UniqueFd in_fd(in);
  auto out = AK_TRY(open_fd(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, st.st_mode & 07777));
  AK_TRY_VOID(copy_content(in, out.get(), src));
  if (::fchmod(out.get(), st.st_mode & 07777) != 0) return fail(errno_error(fmt::format("chmod {}", dest.string())));
  return ok();
}

Result<std::string> checked_rel(const std::string& rel_in) {
  std::string rel = strip_trailing_slashes(rel_in);
  if (!is_contained_relative_path(rel))
    return fail(ErrorCode::invalid_argument, fmt::format("input path {}: escapes the input root", rel_in));
  return rel;
}

} // namespace

Result<> stage_inputs(const fs::path& input_root, const std::map<std::string, fs::path>& files) {
  AK_TRY_VOID(make_dirs(input_root));
  for (const auto& [rel_in, src] : files) {
    auto rel = AK_TRY(checked_rel(rel_in));
    auto dir = AK_TRY(open_fd(src.parent_path().empty() ? fs::path(".") : src.parent_path(),
                              O_PATH | O_DIRECTORY | O_CLOEXEC)
                          .map_error([&](Error e) { return e.context("input " + rel); }));
    AK_TRY_VOID(stage_entry(input_root, rel, dir.get(), src.filename().c_str(), src));
  }
  return ok();
}

Result<> stage_inputs_beneath(const fs::path& input_root, const fs::path& source_root,
                              const std::vector<std::string>& rels) {
  AK_TRY_VOID(make_dirs(input_root));
  std::string open_parent;
  UniqueFd parent;
  for (const auto& rel_in : rels) {
    auto rel = AK_TRY(checked_rel(rel_in));
    fs::path rel_path(rel);
    std::string parent_rel = rel_path.parent_path().string();
    if (!parent || parent_rel != open_parent) {
      parent = AK_TRY(open_dir_beneath(source_root, parent_rel, false).map_error([&](Error e) {
        return e.context("input " + rel);
      }));
      open_parent = parent_rel;
    }
    AK_TRY_VOID(stage_entry(input_root, rel, parent.get(), rel_path.filename().c_str(), source_root / rel_path));
  }
  return ok();
}

} // namespace akbuild::exec
