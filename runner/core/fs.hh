#pragma once
// Filesystem resources and primitives: owned fds, temp dirs, atomic file replacement.
// Every write that others may read goes through a temp file + fsync + rename, so a reader sees
// the old content or the new, never a part.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "runner/core/result.hh"

namespace akbuild {

// An Error from errno: "<what>: <strerror>", code io (or not_found / permission_denied).
Error errno_error(std::string_view what, int err = -1);

// An owned file descriptor, closed on destruction.
class UniqueFd {
public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : m_fd(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : m_fd(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return m_fd; }
  explicit operator bool() const { return m_fd >= 0; }
  int release() { int fd = m_fd; m_fd = -1; return fd; }
  void reset(int fd = -1);

private:
  int m_fd = -1;
};

// open(2) as a Result; the message names the path.
Result<UniqueFd> open_fd(const std::filesystem::path& path, int flags, int mode = 0644);

// Writes every byte, retrying short writes and EINTR.
Result<> write_all(int fd, std::span<const std::byte> bytes);

// The whole content of a file; beneath a ReadsBeneath root of this thread, read without following
// a symlink (core/beneath.hh).
Result<std::string> read_file(const std::filesystem::path& path);

// Creates or truncates `path` and writes `content`: neither atomic nor synced, for scratch files
// in a directory of one's own (a temp dir) that nobody reads half-written.
Result<> write_file(const std::filesystem::path& path, std::string_view content, int mode = 0644);

// Replaces `path` with `content` atomically (temp file in the same dir, fsync, rename, fsync dir).
Result<> write_file_atomic(const std::filesystem::path& path, std::string_view content, int mode = 0644);

// fsync of a directory, so a rename in it is durable.
Result<> fsync_dir(const std::filesystem::path& dir);

// create_directories as a Result.
Result<> make_dirs(const std::filesystem::path& dir);

// Removes a tree, making read-only dirs writable first; missing is fine.
Result<> remove_tree(const std::filesystem::path& path);

// A directory removed with its content on destruction, unless keep() was called.
class TempDir {
public:
  // A fresh directory `<parent>/<prefix>XXXXXX`; parent defaults to $TMPDIR or /tmp.
  static Result<TempDir> create(std::string_view prefix = "akbuild-",
                                const std::filesystem::path& parent = {});
  TempDir(TempDir&& o) noexcept : m_path(std::move(o.m_path)), m_keep(o.m_keep) { o.m_path.clear(); }
  TempDir& operator=(TempDir&&) = delete;
  TempDir(const TempDir&) = delete;
  ~TempDir();

  const std::filesystem::path& path() const { return m_path; }
  void keep() { m_keep = true; }

private:
  explicit TempDir(std::filesystem::path p) : m_path(std::move(p)) {}
  std::filesystem::path m_path;
  bool m_keep = false;
};

// An exclusive advisory lock (flock) on a file, held until destruction. Used for cross-process
// coordination on one cache dir.
class FileLock {
public:
  // Blocks until the lock is held. Creates the lock file if missing.
  static Result<FileLock> acquire(const std::filesystem::path& path);
  // The lock if it is free now, else nullopt-like empty lock (held() == false).
  static Result<FileLock> try_acquire(const std::filesystem::path& path);
  bool held() const { return static_cast<bool>(m_fd); }

  explicit FileLock(UniqueFd fd = {}) : m_fd(std::move(fd)) {}

private:
  UniqueFd m_fd;
};

// `path` without trailing slashes ("out/" -> "out"); "/" stays "/".
std::string strip_trailing_slashes(std::string_view path);

// Whether `path` is `dir` or lies below it, compared as '/'-separated text (`dir` without a
// trailing slash).
inline bool path_within(std::string_view path, std::string_view dir) {
  return path == dir || (path.size() > dir.size() && path.starts_with(dir) && path[dir.size()] == '/');
}

// Which file system view this process has: the inode of /proc/self/ns/mnt (two processes with
// the same one resolve every path alike); 0 where /proc is not mounted.
std::uint64_t mount_namespace();

// Whether `rel` is a relative path that stays inside its base: no absolute root, no `..`
// component, no empty component. Lexical only; symlinks are checked where paths are opened.
bool is_contained_relative_path(std::string_view rel);

} // namespace akbuild
