#pragma once
// One tree walker for every consumer (NAR dump, input hashing, layer tarring, materialization):
// depth first, a directory's entries sorted by name as unsigned bytes (Nix's NAR order), never
// following symlinks. Relative paths use '/' and are "" for the root itself.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <sys/stat.h>

#include "runner/core/result.hh"
#include "runner/core/sink.hh"

namespace akbuild {

enum class FileType { regular, directory, symlink, other };

struct FileInfo {
  FileType type = FileType::other;
  bool executable = false;  // st_mode & S_IXUSR, as Nix decides it
  std::uint64_t size = 0;
  std::uint32_t mode = 0;   // full st_mode
  std::uint64_t dev = 0, ino = 0, nlink = 0;
  std::int64_t mtime_ns = 0, ctime_ns = 0;
  std::uint32_t uid = 0, gid = 0;
};

// lstat as a FileInfo.
Result<FileInfo> stat_path(const std::filesystem::path& path);
FileInfo file_info_from_stat(const struct stat& st);

class TreeVisitor {
public:
  virtual ~TreeVisitor() = default;
  // A directory, before its entries. Returning skip_directory() from here skips its content.
  virtual Result<> directory_begin(std::string_view rel, const FileInfo& info) = 0;
  virtual Result<> directory_end(std::string_view /*rel*/) { return ok(); }
  // A regular file; `dirfd`/`name` open it without re-resolving the path.
  virtual Result<> regular(std::string_view rel, const FileInfo& info, int dirfd, std::string_view name) = 0;
  virtual Result<> symlink(std::string_view rel, const FileInfo& info, std::string_view target) = 0;
  // A FIFO, socket or device. Default: an invalid_argument error naming it.
  virtual Result<> other(std::string_view rel, const FileInfo& info);
};

// "<rel>: is a FIFO (socket, device), which has an unsupported type".
Error unsupported_type_error(std::string_view rel, const FileInfo& info);

// The error a directory_begin returns to have its content skipped (not an error to the caller).
Error skip_directory();

struct WalkOptions {
  unsigned max_depth = 0;  // 0 = unlimited; else deeper entries are an error
};

// Walks `root` (a file, symlink or directory). Errors name the path relative to root.
Result<> walk_tree(const std::filesystem::path& root, TreeVisitor& visitor, WalkOptions options = {});
// Walks the directory open as `dirfd` (as checked when it was opened: its path is never resolved
// again); `display` names it in errors.
Result<> walk_open_dir(int dirfd, const std::string& display, TreeVisitor& visitor, WalkOptions options = {});

// Streams an open file's content into a sink. With `size_hint` (its stat size), stops once that
// much is read, sparing the read that would only say "end of file".
Result<std::uint64_t> stream_fd(int fd, Sink& sink, std::uint64_t size_hint = 0);
// Opens `name` under `dirfd` (no symlink following) and streams it.
Result<std::uint64_t> stream_file_at(int dirfd, std::string_view name, Sink& sink);

// A symlink's target, read with readlinkat; `size_hint` is its lstat size.
Result<std::string> read_link_at(int dirfd, const char* name, std::uint64_t size_hint);

// Joins a relative path and a name with '/'.
std::string join_rel(std::string_view rel, std::string_view name);

} // namespace akbuild
