#include "runner/core/fs.hh"

#include "runner/core/beneath.hh"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner/core/atomic_file.hh"

namespace akbuild {

namespace fs = std::filesystem;

Error errno_error(std::string_view what, int err) {
  if (err < 0) err = errno;
  ErrorCode code = ErrorCode::io;
  if (err == ENOENT || err == ENOTDIR) code = ErrorCode::not_found;
  else if (err == EACCES || err == EPERM || err == EROFS) code = ErrorCode::permission_denied;
  else if (err == EEXIST) code = ErrorCode::already_exists;
  else if (err == ENOSPC || err == EDQUOT) code = ErrorCode::resource_exhausted;
  return Error{code, std::string(what) + ": " + std::strerror(err)};
}

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) reset(o.release());
  return *this;
}

void UniqueFd::reset(int fd) {
  if (m_fd >= 0) ::close(m_fd);
  m_fd = fd;
}

Result<UniqueFd> open_fd(const fs::path& path, int flags, int mode) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return fail(errno_error(path.string()));
  return UniqueFd(fd);
}

Result<> write_all(int fd, std::span<const std::byte> bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(errno_error("write"));
    }
    bytes = bytes.subspan(static_cast<std::size_t>(n));
  }
  return ok();
}

namespace {

// The open file read_file reads: beneath this thread's ReadsBeneath root when `path` lies there.
Result<UniqueFd> open_for_read(const fs::path& path) {
  if (const auto* root = reads_beneath_root()) {
    auto rel = path.lexically_normal().lexically_relative(root->lexically_normal());
    if (!rel.empty() && is_contained_relative_path(rel.string())) return open_file_beneath(*root, rel);
  }
  return open_fd(path, O_RDONLY);
}

} // namespace

Result<std::string> read_file(const fs::path& path) {
  auto fd = AK_TRY(open_for_read(path));
  std::string out;
  struct stat st {};
  if (::fstat(fd.get(), &st) == 0 && st.st_size > 0) out.reserve(static_cast<std::size_t>(st.st_size));
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(errno_error(path.string()));
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

Result<> fsync_dir(const fs::path& dir) {
  auto fd = AK_TRY(open_fd(dir, O_RDONLY | O_DIRECTORY));
  if (::fsync(fd.get()) != 0) return fail(errno_error("fsync " + dir.string()));
  return ok();
}

Result<> make_dirs(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail(errno_error(dir.string(), ec.value()));
  return ok();
}

Result<> write_file(const fs::path& path, std::string_view content, int mode) {
  auto fd = AK_TRY(open_fd(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  auto written = write_all(fd.get(), std::as_bytes(std::span(content.data(), content.size())));
  if (!written) return fail(written.error().context(path.string()));
  return ok();
}

Result<> write_file_atomic(const fs::path& path, std::string_view content, int mode) {
  auto file = AK_TRY(AtomicFile::create(path, mode));
  auto written = write_all(file.fd(), std::as_bytes(std::span(content.data(), content.size())));
  if (!written) return fail(written.error().context(path.string()));
  return file.commit();
}

Result<> remove_tree(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(path, ec))) return ok();
  // Read-only directories (e.g. materialized outputs) cannot be emptied until made writable.
  if (fs::is_directory(fs::symlink_status(path, ec))) {
    for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (it->is_directory(ec) && !it->is_symlink(ec))
        fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
    }
    fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, ec);
  }
  fs::remove_all(path, ec);
  if (ec) return fail(errno_error("remove " + path.string(), ec.value()));
  return ok();
}

Result<TempDir> TempDir::create(std::string_view prefix, const fs::path& parent) {
  fs::path base = parent;
  if (base.empty()) {
    const char* t = std::getenv("TMPDIR");
    base = (t && *t) ? t : "/tmp";
  }
  std::string tmpl = (base / (std::string(prefix) + "XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr) return fail(errno_error("mkdtemp in " + base.string()));
  return TempDir(fs::path(tmpl));
}

TempDir::~TempDir() {
  if (!m_path.empty() && !m_keep) (void)remove_tree(m_path);
}

namespace {
Result<FileLock> lock_impl(const fs::path& path, bool wait) {
  auto fd = AK_TRY(open_fd(path, O_RDWR | O_CREAT, 0644));
  for (;;) {
    if (::flock(fd.get(), LOCK_EX | (wait ? 0 : LOCK_NB)) == 0) break;
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) return FileLock();
    return fail(errno_error("lock " + path.string()));
  }
  return FileLock(std::move(fd));
}
} // namespace

Result<FileLock> FileLock::acquire(const fs::path& path) { return lock_impl(path, true); }
Result<FileLock> FileLock::try_acquire(const fs::path& path) { return lock_impl(path, false); }

std::string strip_trailing_slashes(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  return std::string(path);
}

bool is_contained_relative_path(std::string_view rel) {
  if (rel.empty() || rel.front() == '/') return false;
  std::size_t start = 0;
  while (start <= rel.size()) {
    std::size_t end = rel.find('/', start);
    if (end == std::string_view::npos) end = rel.size();
    std::string_view part = rel.substr(start, end - start);
    // A trailing slash ("out/") is allowed; empty components elsewhere are not.
    if (part.empty() && end != rel.size()) return false;
    if (part == "..") return false;
    start = end + 1;
  }
  return true;
}

std::uint64_t mount_namespace() {
  struct stat st {};
  return ::stat("/proc/self/ns/mnt", &st) == 0 ? st.st_ino : 0;
}

} // namespace akbuild
