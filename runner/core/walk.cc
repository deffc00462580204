#include "runner/core/walk.hh"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner/core/fs.hh"

namespace akbuild {

namespace {

constexpr std::string_view k_skip_marker = "\x01skip-directory";

std::string describe(std::string_view rel) { return rel.empty() ? std::string(".") : std::string(rel); }

struct Walker {
  TreeVisitor& visitor;
  WalkOptions options;
  std::string root_display;

  Error at(std::string_view rel, Error e) const {
    return std::move(e).context(root_display + (rel.empty() ? "" : "/" + std::string(rel)));
  }

  Result<> node(int dirfd, std::string_view name, std::string_view rel, const FileInfo& info, unsigned depth) {
    if (options.max_depth && depth > options.max_depth)
      return fail(at(rel, Error{ErrorCode::invalid_argument,
                                "deeper than " + std::to_string(options.max_depth) + " levels"}));
    switch (info.type) {
    case FileType::regular: return visitor.regular(rel, info, dirfd, name);
    case FileType::symlink: {
      auto target = read_link_at(dirfd, std::string(name).c_str(), info.size);
      if (!target) return fail(at(rel, target.error()));
      return visitor.symlink(rel, info, *target);
    }
    case FileType::directory: return directory(dirfd, name, rel, info, depth);
    case FileType::other: return visitor.other(rel, info);
    }
    return ok();
  }

  Result<> directory(int parentfd, std::string_view name, std::string_view rel, const FileInfo& info,
                     unsigned depth) {
    auto begun = visitor.directory_begin(rel, info);
    if (!begun) {
      if (begun.error().message == k_skip_marker) return ok();
      return begun;
    }
    int fd = ::openat(parentfd, std::string(name).c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return fail(at(rel, errno_error("open directory")));
    UniqueFd dirfd(fd);
    int dupfd = ::dup(fd);
    if (dupfd < 0) return fail(at(rel, errno_error("dup")));
    DIR* dir = ::fdopendir(dupfd);
    if (!dir) {
      ::close(dupfd);
      return fail(at(rel, errno_error("opendir")));
    }
    std::vector<std::string> names;
    errno = 0;
    while (dirent* e = ::readdir(dir)) {
      std::string_view n = e->d_name;
      if (n == "." || n == "..") continue;
      names.emplace_back(n);
    }
    int read_errno = errno;
    ::closedir(dir);
    if (read_errno != 0) return fail(at(rel, errno_error("readdir", read_errno)));
    // std::string compares as unsigned char (char_traits<char>::lt), i.e. raw byte order.
    std::sort(names.begin(), names.end());
    for (const auto& n : names) {
      struct stat st {};
      std::string child_rel = join_rel(rel, n);
      if (::fstatat(dirfd.get(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        return fail(at(child_rel, errno_error("stat")));
      AK_TRY_VOID(node(dirfd.get(), n, child_rel, file_info_from_stat(st), depth + 1));
    }
    return visitor.directory_end(rel);
  }
};

} // namespace

FileInfo file_info_from_stat(const struct stat& st) {
  FileInfo info;
  if (S_ISREG(st.st_mode)) info.type = FileType::regular;
  else if (S_ISDIR(st.st_mode)) info.type = FileType::directory;
  else if (S_ISLNK(st.st_mode)) info.type = FileType::symlink;
  else info.type = FileType::other;
  info.executable = (st.st_mode & S_IXUSR) != 0;
  info.size = static_cast<std::uint64_t>(st.st_size);
  info.mode = st.st_mode;
  info.dev = st.st_dev;
  info.ino = st.st_ino;
  info.nlink = st.st_nlink;
  info.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  info.ctime_ns = static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
  info.uid = st.st_uid;
  info.gid = st.st_gid;
  return info;
}

Result<FileInfo> stat_path(const std::filesystem::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return fail(errno_error(path.string()));
  return file_info_from_stat(st);
}

Result<std::string> read_link_at(int dirfd, const char* name, std::uint64_t size_hint) {
  std::string target(size_hint ? size_hint + 1 : 256, '\0');
  for (;;) {
    ssize_t n = ::readlinkat(dirfd, name, target.data(), target.size());
    if (n < 0) return fail(errno_error("readlink"));
    if (static_cast<std::size_t>(n) < target.size()) {
      target.resize(static_cast<std::size_t>(n));
      return target;
    }
    target.resize(target.size() * 2);
  }
}

Error unsupported_type_error(std::string_view rel, const FileInfo& info) {
  const char* what = S_ISFIFO(info.mode) ? "a FIFO" : S_ISSOCK(info.mode) ? "a socket" : "a device";
  return Error{ErrorCode::invalid_argument, describe(rel) + ": is " + what + ", which has an unsupported type"};
}

Result<> TreeVisitor::other(std::string_view rel, const FileInfo& info) { return fail(unsupported_type_error(rel, info)); }

Error skip_directory() { return Error{ErrorCode::cancelled, std::string(k_skip_marker)}; }

Result<> walk_tree(const std::filesystem::path& root, TreeVisitor& visitor, WalkOptions options) {
  Walker w{visitor, options, root.string()};
  struct stat st {};
  if (::lstat(root.c_str(), &st) != 0) return fail(errno_error(root.string()));
  std::filesystem::path parent = root.parent_path();
  if (parent.empty()) parent = ".";
  int pfd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (pfd < 0) return fail(errno_error(parent.string()));
  UniqueFd parentfd(pfd);
  std::string name = root.filename().string();
  if (name.empty() || name == "." || name == "..") {
    // "dir/" or "." : resolve to a name under its real parent.
    auto canonical = std::filesystem::weakly_canonical(root);
    parentfd.reset(::open(canonical.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!parentfd) return fail(errno_error(canonical.parent_path().string()));
    name = canonical.filename().string();
    if (name.empty()) name = "/";
  }
  return w.node(parentfd.get(), name, "", file_info_from_stat(st), 0);
}

Result<> walk_open_dir(int dirfd, const std::string& display, TreeVisitor& visitor, WalkOptions options) {
  Walker w{visitor, options, display};
  struct stat st {};
  if (::fstat(dirfd, &st) != 0) return fail(errno_error(display));
  if (!S_ISDIR(st.st_mode)) return fail(ErrorCode::invalid_argument, display + ": not a directory");
  // "." under the directory itself: the walk opens its own descriptor of the same directory.
  return w.directory(dirfd, ".", "", file_info_from_stat(st), 0);
}

Result<std::uint64_t> stream_fd(int fd, Sink& sink, std::uint64_t size_hint) {
  // 256 KiB: large enough that syscalls are a small part of hashing time.
  static thread_local std::vector<std::byte> buffer(256 * 1024);
  std::uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(errno_error("read"));
    }
    if (n == 0) return total;
    AK_TRY_VOID(sink.write(std::span(buffer.data(), static_cast<std::size_t>(n))));
    total += static_cast<std::uint64_t>(n);
    if (size_hint && total == size_hint) return total;
  }
}

Result<std::uint64_t> stream_file_at(int dirfd, std::string_view name, Sink& sink) {
  // O_NONBLOCK: a FIFO put where the file was after it was stat'ed (a tree another user
  // controls) reads as empty or fails at once instead of waiting for a writer forever.
  int fd = ::openat(dirfd, std::string(name).c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return fail(errno_error(std::string(name)));
  UniqueFd owned(fd);
  return stream_fd(fd, sink);
}

std::string join_rel(std::string_view rel, std::string_view name) {
  if (rel.empty()) return std::string(name);
  std::string out;
  out.reserve(rel.size() + 1 + name.size());
  out.append(rel).push_back('/');
  out.append(name);
  return out;
}

} // namespace akbuild
