#include "runner/cas/blob_store.hh"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

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

// The file:// backend: <root>/cas/sha256/<2 hex>/<62 hex>, temp files in <root>/tmp (the same
// filesystem, so a finished blob is linked into place atomically). Blobs are stored read-only.
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
    if (::chmod(path.c_str(), 0444) == 0 && (::link(path.c_str(), p.c_str()) == 0 || errno == EEXIST)) return ok();
    return put_file_known(path, digest);
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

  // Whether the blob is present; refreshes its mtime so gc sees it as recently used.
  Result<bool> touch_if_present(const Digest& digest) {
    fs::path p = blob_path(digest);
    if (::utimensat(AT_FDCWD, p.c_str(), nullptr, 0) == 0) return true;
    if (errno == ENOENT || errno == ENOTDIR) return false;
    // Not ours to touch (e.g. a shared read-only cache): present is what matters.
    if (errno == EPERM || errno == EACCES || errno == EROFS) return AK_TRY(contains(digest));
    return fail(errno_error(p.string()));
  }

  // fsync, then link into place; a concurrent writer of the same blob makes link fail with
  // EEXIST, which is success: both wrote the same bytes.
  Result<> commit(TempFile& tmp, const Digest& digest) {
    if (::fchmod(tmp.fd(), 0444) != 0) return fail(errno_error("chmod " + tmp.path().string()));
    if (::fsync(tmp.fd()) != 0) return fail(errno_error("fsync " + tmp.path().string()));
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
