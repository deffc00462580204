#include "runner/cas/cache_dir.hh"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

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

// Whether `root` is an existing cache dir this process can read hits from.
bool readable_cache(const CacheLayout& layout) {
  struct stat st {};
  return ::stat(layout.blobs().c_str(), &st) == 0 && S_ISDIR(st.st_mode) &&
         ::access(layout.root.c_str(), R_OK | X_OK) == 0 && ::access(layout.blobs().c_str(), R_OK | X_OK) == 0;
}

// Creates the areas and proves with a probe file that the dir takes writes: a directory can be
// writable by mode yet refuse them (read-only mount, quota).
Result<> create_layout(const CacheLayout& layout) {
  std::error_code ec;
  for (const auto& area : {layout.tmp(), layout.blobs(), layout.actions(), layout.locks()}) {
    fs::create_directories(area, ec);
    if (ec) return fail(not_writable(layout.root, ec.value()));
  }
  std::string probe = (layout.tmp() / "probe-XXXXXX").string();
  int fd = ::mkstemp(probe.data());
  if (fd < 0) return fail(not_writable(layout.root, errno));
  ::close(fd);
  ::unlink(probe.c_str());
  return ok();
}

// What earlier versions kept and nothing reads any more: the SQLite stat cache, and the layer
// store of their own (layers now live in the CAS under layer records).
void remove_legacy(const CacheLayout& layout) {
  for (const char* old : {"stat.sqlite", "stat.sqlite-wal", "stat.sqlite-shm"}) ::unlink((layout.root / old).c_str());
  struct stat st {};
  if (::lstat((layout.root / "oci").c_str(), &st) == 0) (void)remove_tree(layout.root / "oci");
}

} // namespace

Result<std::unique_ptr<CacheDir>> CacheDir::open(const fs::path& root_in) {
  if (root_in.empty()) return fail(ErrorCode::invalid_argument, "cache dir: empty path");
  std::error_code ec;
  fs::path root = fs::absolute(root_in, ec).lexically_normal();
  if (ec) return fail(ErrorCode::invalid_argument, "cache dir " + root_in.string() + ": " + ec.message());
  if (root.filename().empty()) root = root.parent_path();

  std::unique_ptr<CacheDir> cache(new CacheDir());
  cache->m_layout.root = root;
  const CacheLayout& layout = cache->m_layout;
  auto created = check_writable(root);
  if (created) created = create_layout(layout);
  if (!created) {
    // An existing cache dir that only refuses writes still serves hits.
    if (!readable_cache(layout)) return fail(created.error());
    cache->m_read_only = true;
  }
  cache->m_blobs = AK_TRY(open_blob_store(root.string(), cache->m_read_only));
  cache->m_actions = std::make_unique<ActionCache>(layout.actions());
  cache->m_actions->set_blob_store(cache->m_blobs.get());
  cache->m_layers = std::make_unique<LayerRecords>(layout.layers(), *cache->m_blobs);
  cache->m_stat = AK_TRY(StatCache::open(layout.stat_cache(), cache->m_read_only));
  if (!cache->m_read_only) remove_legacy(layout);
  return cache;
}

Result<> CacheDir::require_writable(std::string_view what) const {
  if (!m_read_only) return ok();
  return fail(ErrorCode::failed_precondition,
              "cache dir " + root().string() + " is read-only: cannot " + std::string(what));
}

fs::path CacheDir::lock_path(const Digest& key) const { return m_layout.locks() / (key.hex() + ".lock"); }

Result<FileLock> CacheDir::lock_action(const Digest& key) const {
  fs::path p = lock_path(key);
  for (;;) {
    auto fd = AK_TRY(open_fd(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    while (::flock(fd.get(), LOCK_EX) != 0)
      if (errno != EINTR) return fail(errno_error("lock " + p.string()));
    struct stat held {}, now {};
    if (::fstat(fd.get(), &held) == 0 && ::stat(p.c_str(), &now) == 0 && held.st_dev == now.st_dev &&
        held.st_ino == now.st_ino)
      return FileLock(std::move(fd));
    // gc removed the idle file while this process waited for it: lock the one at the path now.
  }
}

} // namespace akbuild::cas
