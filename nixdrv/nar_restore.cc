// restore_nar: writes a parsed NAR into a fresh temp sibling of the destination, then renames it.
#include <cerrno>
#include <string>
#include <vector>

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nixdrv/nar.hh"
#include "runner/core/fs.hh"

namespace akbuild::nixdrv {

namespace {

// Every node is created relative to an fd of its parent, opened with O_NOFOLLOW, and with
// O_EXCL / mkdirat / symlinkat, which never follow a symlink in the last component either; the
// parser has already refused names with '/', "." and "..". So nothing lands outside the tree.
class RestoreVisitor final : public NarVisitor {
public:
  RestoreVisitor(int root_parent, std::string root_name) : m_root_name(std::move(root_name)) {
    m_dirs.push_back(UniqueFd(::dup(root_parent)));
  }

  Result<> directory_begin(std::string_view rel, std::string_view name) override {
    std::string n = node_name(rel, name);
    if (::mkdirat(top(), n.c_str(), 0777) != 0) return fail(errno_error(display(rel) + ": mkdir"));
    int fd = ::openat(top(), n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return fail(errno_error(display(rel) + ": open"));
    m_dirs.emplace_back(fd);
    return ok();
  }
  Result<> directory_end(std::string_view) override {
    m_dirs.pop_back();
    return ok();
  }
  Result<> file_begin(std::string_view rel, std::string_view name, bool executable, std::uint64_t size) override {
    m_rel = rel;
    int fd = ::openat(top(), node_name(rel, name).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                      executable ? 0777 : 0666);
    if (fd < 0) return fail(errno_error(display(rel) + ": create"));
    m_file = UniqueFd(fd);
    // No preallocation of `size`: it is what the archive claims, before any data has arrived;
    // the file grows with the bytes actually written.
    (void)size;
    return ok();
  }
  Result<> file_data(std::span<const std::byte> bytes) override {
    auto r = write_all(m_file.get(), bytes);
    if (!r) return fail(r.error().context(display(m_rel)));
    return ok();
  }
  Result<> file_end() override {
    if (::close(m_file.release()) != 0) return fail(errno_error(display(m_rel) + ": close"));
    return ok();
  }
  Result<> symlink(std::string_view rel, std::string_view name, std::string_view target) override {
    if (::symlinkat(std::string(target).c_str(), top(), node_name(rel, name).c_str()) != 0)
      return fail(errno_error(display(rel) + ": symlink"));
    return ok();
  }

private:
  int top() const { return m_dirs.back().get(); }
  std::string node_name(std::string_view rel, std::string_view name) const {
    return rel.empty() ? m_root_name : std::string(name);
  }
  static std::string display(std::string_view rel) { return rel.empty() ? "NAR root" : std::string(rel); }

  std::string m_root_name;
  std::vector<UniqueFd> m_dirs;
  UniqueFd m_file;
  std::string m_rel;
};

} // namespace

Result<> restore_nar(Source& source, const std::filesystem::path& dest) {
  namespace fs = std::filesystem;
  fs::path target = dest;
  if (target.filename().empty()) target = target.parent_path();
  struct stat st {};
  if (::lstat(target.c_str(), &st) == 0)
    return fail(ErrorCode::already_exists, target.string() + ": already exists");
  fs::path parent = target.parent_path();
  if (parent.empty()) parent = ".";
  auto tmp = TempDir::create("." + target.filename().string() + ".restore-", parent);
  if (!tmp) return fail(tmp.error().context(target.string()));
  auto dirfd = AK_TRY(open_fd(tmp->path(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  RestoreVisitor visitor(dirfd.get(), "root");
  auto parsed = parse_nar(source, visitor);
  if (!parsed) return fail(parsed.error().context(target.string()));
  fs::path staged = tmp->path() / "root";
  if (::renameat2(AT_FDCWD, staged.c_str(), AT_FDCWD, target.c_str(), RENAME_NOREPLACE) != 0)
    return fail(errno_error(target.string() + ": rename into place"));
  return ok();
}

} // namespace akbuild::nixdrv
