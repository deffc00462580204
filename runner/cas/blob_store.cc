#include "runner/cas/blob_store.hh"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner/core/blob_mark.hh"
#include "runner/core/encoding.hh"
#include "runner/core/fs.hh"
#include "runner/core/walk.hh"

namespace akbuild::cas {

namespace fs = std::filesystem;

namespace {

Digest digest_from(const std::vector<std::byte>& bytes) {
  Sha256Bytes b;
  std::memcpy(b.data(), bytes.data(), b.size());
  return Digest(b);
}

// A temp file in the store's tmp dir, unlinked on destruction unless committed. It holds a flock
// while open, so gc can tell the temp file of a live writer from one a killed writer left.
class TempFile {
public:
  static Result<TempFile> create(const fs::path& dir) {
    std::string tmpl = (dir / "blob-XXXXXX").string();
    int fd = ::mkstemp(tmpl.data());
    if (fd < 0) return fail(errno_error("create temp file in " + dir.string()));
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    (void)::flock(fd, LOCK_EX | LOCK_NB);
    return TempFile(UniqueFd(fd), fs::path(tmpl));
  }
  TempFile(TempFile&& o) noexcept : m_fd(std::move(o.m_fd)), m_path(std::move(o.m_path)) { o.m_path.clear(); }
  TempFile& operator=(TempFile&&) = delete;
  ~TempFile() {
    if (!m_path.empty()) ::unlink(m_path.c_str());
  }
  int fd() const { return m_fd.get(); }
  const fs::path& path() const { return m_path; }

private:
  TempFile(UniqueFd fd, fs::path p) : m_fd(std::move(fd)), m_path(std::move(p)) {}
  UniqueFd m_fd;
  fs::path m_path;
};

// The intact mark (blob_store.hh) is core/blob_mark.hh's: read-only with the mtime every blob
// gets when stored or verified. Nothing else sets an mtime that far back, and any write through a
// link moves it to the present.

bool has_intact_mark(const struct stat& st, std::uint64_t size) {
  return S_ISREG(st.st_mode) && (st.st_mode & 07777) == k_blob_mode && st.st_mtim.tv_sec == k_blob_mtime.tv_sec &&
         st.st_mtim.tv_nsec == k_blob_mtime.tv_nsec && static_cast<std::uint64_t>(st.st_size) == size;
}

// Makes an open blob read-only with the intact mark; its atime is its last use, for gc.
Result<> mark_intact(int fd, const std::string& what) {
  if (::fchmod(fd, k_blob_mode) != 0) return fail(errno_error("chmod " + what));
  struct timespec times[2] = {{0, UTIME_NOW}, k_blob_mtime};
  if (::futimens(fd, times) != 0) return fail(errno_error("set times of " + what));
  return ok();
}

// The file:// backend: <root>/cas/sha256/<2 hex>/<62 hex>, temp files in <root>/tmp (the same
// filesystem, so a finished blob is linked into place atomically). Blobs are stored read-only,
// with the intact mark.
class FileBlobStore final : public BlobStore {
public:
  explicit FileBlobStore(fs::path root) : m_root(std::move(root)), m_tmp(m_root / "tmp") {}

  Result<bool> contains(const Digest& digest) override {
    struct stat st {};
    if (::stat(blob_path(digest).c_str(), &st) == 0) return true;
    if (errno == ENOENT || errno == ENOTDIR) return false;
    return fail(errno_error(blob_path(digest).string()));
  }

  Result<std::string> get(const Digest& digest) override {
    StringSink out;
    AK_TRY_VOID(read_to(digest, out));
    return std::move(out.data());
  }

  Result<> read_to(const Digest& digest, Sink& sink) override {
    fs::path p = blob_path(digest);
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT || errno == ENOTDIR)
        return fail(ErrorCode::not_found, "blob " + digest.hex() + ": not in the cache");
      return fail(errno_error("blob " + digest.hex()));
    }
    UniqueFd owned(fd);
    HashSink hash;
    TeeSink tee(sink, hash);
    auto n = stream_fd(fd, tee);
    if (!n) return fail(n.error().context("blob " + digest.hex()));
    Digest actual = digest_from(hash.finish());
    if (actual != digest) return corrupt(digest, "content hashes to " + actual.hex());
    return ok();
  }

  Result<Digest> put(std::string_view bytes) override {
    Digest digest = Digest::of(bytes);
    if (AK_TRY(touch_if_present(digest))) return digest;
    auto tmp = AK_TRY(TempFile::create(m_tmp));
    AK_TRY_VOID(write_all(tmp.fd(), as_bytes(bytes)));
    AK_TRY_VOID(commit(tmp, digest));
    return digest;
  }

  Result<Digest> put_file(const fs::path& path) override {
    auto src = AK_TRY(open_fd(path, O_RDONLY));
    auto tmp = AK_TRY(TempFile::create(m_tmp));
    HashSink hash;
    {
      FdSink out(tmp.fd());
      TeeSink tee(out, hash);
      auto n = stream_fd(src.get(), tee);
      if (!n) return fail(n.error().context(path.string()));
      AK_TRY_VOID(out.flush());
    }
    Digest digest = digest_from(hash.finish());
    // Present already: the copy is dropped without the cost of an fsync.
    if (AK_TRY(touch_if_present(digest))) return digest;
    AK_TRY_VOID(commit(tmp, digest));
    return digest;
  }

  Result<> put_file_known(const fs::path& path, const Digest& digest) override {
    if (AK_TRY(touch_if_present(digest))) return ok();
    Digest actual = AK_TRY(put_file(path));
    if (actual != digest)
      return fail(ErrorCode::failed_precondition,
                  path.string() + ": changed while it was read (expected " + digest.hex() + ", got " + actual.hex() + ")");
    return ok();
  }

  Result<> adopt_file(const fs::path& path, const Digest& digest) override {
    if (AK_TRY(touch_if_present(digest))) return ok();
    fs::path p = blob_path(digest);
    AK_TRY_VOID(make_dirs(p.parent_path()));
    // Marked like any stored blob (its digest was computed as it was written), so it is linked
    // out, not copied, and trusted by a stat.
    int raw = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (raw >= 0) {
      UniqueFd fd(raw);
      if (mark_intact(fd.get(), path.string()) && (::link(path.c_str(), p.c_str()) == 0 || errno == EEXIST))
        return ok();
    }
    return put_file_known(path, digest);
  }

  Result<Digest> move_file(int dirfd, const std::string& name) override {
    int raw = ::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (raw < 0) return fail(errno_error(name));
    UniqueFd fd(raw);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return fail(errno_error(name));
    // A link to a stored blob named by its digest (an image layout's blobs/sha256/<hex>, whose
    // layers the layer cache adopted) is that blob: the same inode, still marked. No re-hash.
    if (auto named = Digest::parse(name); named && st.st_nlink > 1) {
      struct stat blob {};
      if (has_intact_mark(st, static_cast<std::uint64_t>(st.st_size)) && ::lstat(blob_path(*named).c_str(), &blob) == 0 &&
          blob.st_dev == st.st_dev && blob.st_ino == st.st_ino)
        return *named;
    }
    HashSink hash;
    auto n = stream_fd(fd.get(), hash, static_cast<std::uint64_t>(st.st_size));
    if (!n) return fail(n.error().context(name));
    Digest digest = digest_from(hash.finish());
    if (AK_TRY(touch_if_present(digest))) {
      // Gone, as a moved file would be: a node_modules holds thousands of copies of a few
      // licenses, and removing them here (on the caller's threads) spares whoever removes the dir.
      (void)::unlinkat(dirfd, name.c_str(), 0);
      return digest;
    }
    // The disk starts taking it now, so the sync that follows finds less to wait for.
    (void)::sync_file_range(fd.get(), 0, 0, SYNC_FILE_RANGE_WRITE);
    // A file with another link (say, to a workspace source) must keep its mode and times.
    if (st.st_nlink == 1 && mark_intact(fd.get(), name)) {
      fs::path p = blob_path(digest);
      for (int attempt = 0; attempt < 2; ++attempt) {
        if (::renameat2(dirfd, name.c_str(), AT_FDCWD, p.c_str(), RENAME_NOREPLACE) == 0 || errno == EEXIST)
          return digest;
        if (errno != ENOENT) break;
        AK_TRY_VOID(make_dirs(p.parent_path()));
      }
      if (errno != EXDEV && errno != EPERM && errno != EACCES) return fail(errno_error("store blob " + digest.hex()));
    }
    // Another file system, or a file we may not move: copy it, from the start.
    if (::lseek(fd.get(), 0, SEEK_SET) != 0) return fail(errno_error(name));
    auto tmp = AK_TRY(TempFile::create(m_tmp));
    HashSink again;
    {
      FdSink out(tmp.fd());
      TeeSink tee(out, again);
      auto copied = stream_fd(fd.get(), tee);
      if (!copied) return fail(copied.error().context(name));
      AK_TRY_VOID(out.flush());
    }
    if (digest_from(again.finish()) != digest)
      return fail(ErrorCode::failed_precondition, name + ": changed while it was stored");
    AK_TRY_VOID(commit(tmp, digest));
    return digest;
  }

  Result<> check(const Digest& digest, std::uint64_t size) override {
    fs::path p = blob_path(digest);
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR)
        return fail(ErrorCode::not_found, "blob " + digest.hex() + ": not in the cache");
      return fail(errno_error("blob " + digest.hex()));
    }
    if (has_intact_mark(st, size)) return ok();
    if (static_cast<std::uint64_t>(st.st_size) != size)
      return corrupt(digest, std::to_string(st.st_size) + " bytes where " + std::to_string(size) + " were stored");
    // Unmarked (written through a link, or stored before the mark): re-hashed once, then marked.
    int raw = ::open(p.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (raw < 0) return fail(errno_error("blob " + digest.hex()));
    UniqueFd fd(raw);
    HashSink hash;
    auto n = stream_fd(fd.get(), hash);
    if (!n) return fail(n.error().context("blob " + digest.hex()));
    Digest actual = digest_from(hash.finish());
    if (actual != digest) return corrupt(digest, "content hashes to " + actual.hex());
    struct stat after {};
    // Marked only if nothing wrote it while it was read; else it stays unmarked (copied out).
    if (::fstat(fd.get(), &after) == 0 && after.st_mtim.tv_sec == st.st_mtim.tv_sec &&
        after.st_mtim.tv_nsec == st.st_mtim.tv_nsec && after.st_size == st.st_size)
      (void)mark_intact(fd.get(), p.string());
    return ok();
  }

  bool link_out(const Digest& digest, std::uint64_t size, int dirfd, const std::string& name) override {
    fs::path p = blob_path(digest);
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0 || !has_intact_mark(st, size)) return false;
    return ::linkat(AT_FDCWD, p.c_str(), dirfd, name.c_str(), 0) == 0;
  }

  bool is_linked_blob(const Digest& digest, std::uint64_t size, const FileInfo& info) const override {
    // A link to a blob carries the blob's mark itself: a file without it (a copy) is told apart
    // without looking up the blob's path.
    if (info.nlink < 2 || !carries_blob_mark(info) || info.size != size) return false;
    struct stat st {};
    // One inode: the blob's stat is the file's, mark included.
    return ::lstat(blob_path(digest).c_str(), &st) == 0 && st.st_dev == info.dev && st.st_ino == info.ino &&
           has_intact_mark(st, size);
  }

  Result<> sync() override {
    auto fd = AK_TRY(open_fd(m_root / "cas", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (::syncfs(fd.get()) != 0) return fail(errno_error("sync " + m_root.string()));
    return ok();
  }

  fs::path local_path(const Digest& digest) const override {
    fs::path p = blob_path(digest);
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 ? p : fs::path();
  }

  Result<> remove(const Digest& digest) override {
    fs::path p = blob_path(digest);
    if (::unlink(p.c_str()) != 0 && errno != ENOENT) return fail(errno_error("remove blob " + digest.hex()));
    return ok();
  }

private:
  fs::path blob_path(const Digest& digest) const {
    std::string hex = digest.hex();
    return m_root / "cas" / "sha256" / hex.substr(0, 2) / hex.substr(2);
  }

  // Whether the blob is present; refreshes its atime so gc sees it as recently used (the mtime
  // is the intact mark).
  Result<bool> touch_if_present(const Digest& digest) {
    fs::path p = blob_path(digest);
    struct timespec times[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
    if (::utimensat(AT_FDCWD, p.c_str(), times, 0) == 0) return true;
    if (errno == ENOENT || errno == ENOTDIR) return false;
    // Not ours to touch (e.g. a shared read-only cache): present is what matters.
    if (errno == EPERM || errno == EACCES || errno == EROFS) return AK_TRY(contains(digest));
    return fail(errno_error(p.string()));
  }

  // Marks, then links into place; a concurrent writer of the same blob makes link fail with
  // EEXIST, which is success: both wrote the same bytes. No fsync: sync() makes a run's blobs
  // durable at once, before any record names them.
  Result<> commit(TempFile& tmp, const Digest& digest) {
    AK_TRY_VOID(mark_intact(tmp.fd(), tmp.path().string()));
    fs::path p = blob_path(digest);
    AK_TRY_VOID(make_dirs(p.parent_path()));
    if (::link(tmp.path().c_str(), p.c_str()) == 0 || errno == EEXIST) return ok();
    // Filesystems without hard links: rename replaces atomically with identical bytes.
    if (errno == EPERM || errno == ENOTSUP || errno == EOPNOTSUPP) {
      if (::rename(tmp.path().c_str(), p.c_str()) == 0) return ok();
    }
    return fail(errno_error("store blob " + digest.hex()));
  }

  Error corrupt_error(const Digest& digest, const std::string& why) {
    return Error{ErrorCode::corrupt, "blob " + digest.hex() + ": corrupt (" + why + "); removed from the cache"};
  }
  tl::unexpected<Error> corrupt(const Digest& digest, const std::string& why) {
    (void)remove(digest);
    return fail(corrupt_error(digest, why));
  }

  fs::path m_root;
  fs::path m_tmp;
};

} // namespace

Result<std::unique_ptr<BlobStore>> open_blob_store(std::string_view url, bool read_only) {
  std::string_view path = url;
  if (url.starts_with("file://")) path = url.substr(7);
  else if (url.find("://") != std::string_view::npos)
    return fail(ErrorCode::invalid_argument, "blob store '" + std::string(url) + "': unsupported scheme (known: file://)");
  if (path.empty()) return fail(ErrorCode::invalid_argument, "blob store '" + std::string(url) + "': empty path");
  fs::path root(path);
  if (!read_only) {
    AK_TRY_VOID(make_dirs(root / "tmp"));
    AK_TRY_VOID(make_dirs(root / "cas" / "sha256"));
  }
  return std::unique_ptr<BlobStore>(new FileBlobStore(std::move(root)));
}

} // namespace akbuild::cas
