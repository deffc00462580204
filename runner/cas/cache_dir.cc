#include "runner/cas/cache_dir.hh"

#include <cerrno>
#include <cstring>

#include <sys/stat.h>
#include <unistd.h>

#include "runner/core/fs.hh"

namespace akbuild::cas {

namespace fs = std::filesystem;

namespace {

Error not_writable(const fs::path& root, int err) {
  return Error{ErrorCode::invalid_argument, "cache dir " + root.string() + ": not writable: " + std::strerror(err)};
}

// Checks before creating anything, so a bad cache dir leaves no trace: the nearest existing
// ancestor must be a writable directory.
Result<> check_writable(const fs::path& root) {
  fs::path p = root;
  struct stat st {};
  while (::stat(p.c_str(), &st) != 0) {
    if (errno != ENOENT || !p.has_parent_path() || p == p.parent_path()) return fail(not_writable(root, errno));
    p = p.parent_path();
  }
  if (!S_ISDIR(st.st_mode))
    return fail(ErrorCode::invalid_argument, "cache dir " + root.string() + ": " + p.string() + " is not a directory");
  if (::access(p.c_str(), W_OK | X_OK) != 0) return fail(not_writable(root, errno));
  return ok();
}

} // namespace

Result<std::unique_ptr<CacheDir>> CacheDir::open(const fs::path& root_in) {
  if (root_in.empty()) return fail(ErrorCode::invalid_argument, "cache dir: empty path");
  std::error_code ec;
  fs::path root = fs::absolute(root_in, ec).lexically_normal();
  if (ec) return fail(ErrorCode::invalid_argument, "cache dir " + root_in.string() + ": " + ec.message());
  if (root.filename().empty()) root = root.parent_path();
  AK_TRY_VOID(check_writable(root));
  for (const char* sub : {"tmp", "cas/sha256", "ac", "locks"}) {
    fs::create_directories(root / sub, ec);
    if (ec) return fail(not_writable(root, ec.value()));
  }
  // A probe file: a directory can be writable by mode yet refuse writes (read-only mount, quota).
  std::string probe = (root / "tmp" / "probe-XXXXXX").string();
  int fd = ::mkstemp(probe.data());
  if (fd < 0) return fail(not_writable(root, errno));
  ::close(fd);
  ::unlink(probe.c_str());

  std::unique_ptr<CacheDir> cache(new CacheDir());
  cache->m_root = root;
  cache->m_blobs = AK_TRY(open_blob_store(root.string()));
  cache->m_actions = std::make_unique<ActionCache>(root / "ac");
  cache->m_actions->set_blob_store(cache->m_blobs.get());
  cache->m_stat = AK_TRY(StatCache::open(root / "stat-cache"));
  // The SQLite stat cache of earlier versions is not read any more.
  for (const char* old : {"stat.sqlite", "stat.sqlite-wal", "stat.sqlite-shm"}) ::unlink((root / old).c_str());
  return cache;
}

fs::path CacheDir::lock_path(const Digest& key) const { return m_root / "locks" / (key.hex() + ".lock"); }

} // namespace akbuild::cas
