#include "runner/plugin/tar_copy.hh"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <optional>

#include <fmt/core.h>

#include "runner/core/beneath.hh"
#include "runner/core/fs.hh"
#include "runner/core/sink.hh"
#include "oci/tar_writer.hh"

namespace akbuild::plugin {

namespace fs = std::filesystem;

namespace {

struct ArchiveFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
using ReadArchive = std::unique_ptr<archive, ArchiveFree>;

// libarchive's message, which it may not have.
std::string_view message_of(archive* a) {
  const char* m = archive_error_string(a);
  return m ? m : "unreadable archive";
}

Error refused(std::string_view name, std::string_view why) {
  return Error{ErrorCode::invalid_argument, fmt::format("tar entry {}: {}", name, why)};
}

// The entry's name as a path below the destination ("./a/b/" -> "a/b"); "" for the top itself.
Result<std::string> entry_path(std::string_view raw) {
  std::string name(raw);
  if (name.empty()) return fail(refused("\"\"", "empty name"));
  if (name.front() == '/') return fail(refused(name, "absolute path refused"));
  while (name.rfind("./", 0) == 0) name.erase(0, 2);
  name = strip_trailing_slashes(name);
  if (name.empty() || name == ".") return std::string();
  for (std::size_t start = 0; start <= name.size();) {
    std::size_t end = name.find('/', start);
    if (end == std::string::npos) end = name.size();
    if (name.compare(start, end - start, "..") == 0) return fail(refused(raw, "`..` refused"));
    start = end + 1;
  }
  if (!is_contained_relative_path(name)) return fail(refused(raw, "not a plain relative path"));
  return name;
}

struct Split {
  std::string parent, base;
};
Split split(const std::string& rel) {
  auto slash = rel.rfind('/');
  if (slash == std::string::npos) return {"", rel};
  return {rel.substr(0, slash), rel.substr(slash + 1)};
}

// The parent dir of `rel`, opened beneath dest (created when missing) without a symlink on the way.
Result<UniqueFd> parent_of(const fs::path& dest, const std::string& rel, std::string_view raw) {
  auto fd = open_dir_beneath(dest, split(rel).parent, true);
  if (!fd) return fail(refused(raw, fd.error().message));
  return fd;
}

// Removes what stands at dir/base, unless it is a directory (kept: entries merge into it).
Result<> clear(int dir, const std::string& base, bool keep_dir, std::string_view raw) {
  struct stat st{};
  if (::fstatat(dir, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return ok();
  if (S_ISDIR(st.st_mode)) {
    if (keep_dir) return ok();
    return fail(refused(raw, "a directory stands in its place"));
  }
  if (::unlinkat(dir, base.c_str(), 0) != 0) return fail(errno_error(fmt::format("tar entry {}: replace", raw)));
  return ok();
}

Result<> extract_file(archive* a, archive_entry* e, const fs::path& dest, const std::string& rel,
                      std::string_view raw) {
  auto dir = AK_TRY(parent_of(dest, rel, raw));
  auto base = split(rel).base;
  AK_TRY_VOID(clear(dir.get(), base, false, raw));
  mode_t mode = archive_entry_perm(e) & 0777;
  UniqueFd fd(::openat(dir.get(), base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) return fail(errno_error(fmt::format("tar entry {}: create", raw)));
  const void* block = nullptr;
  size_t size = 0;
  la_int64_t offset = 0;
  while (true) {
    int r = archive_read_data_block(a, &block, &size, &offset);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN)
      return fail(ErrorCode::invalid_argument, fmt::format("tar entry {}: {}", raw, message_of(a)));
    if (::pwrite(fd.get(), block, size, offset) != static_cast<ssize_t>(size))
      return fail(errno_error(fmt::format("tar entry {}: write", raw)));
  }
  if (::ftruncate(fd.get(), archive_entry_size(e)) != 0) return fail(errno_error(fmt::format("tar entry {}", raw)));
  ::fchmod(fd.get(), mode);
  if (archive_entry_mtime_is_set(e)) {
    struct timespec times[2] = {{0, UTIME_OMIT}, {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
    ::futimens(fd.get(), times);
  }
  return ok();
}

// Whether a symlink at `rel` (below the destination) with `target` stays below it.
bool link_contained(const std::string& rel, std::string_view target) {
  if (target.empty() || target.front() == '/') return false;
  int depth = static_cast<int>(std::count(rel.begin(), rel.end(), '/'));  // the link's directory
  for (std::size_t start = 0; start <= target.size();) {
    std::size_t end = target.find('/', start);
    if (end == std::string_view::npos) end = target.size();
    auto part = target.substr(start, end - start);
    if (part == "..") {
      if (--depth < 0) return false;
    } else if (!part.empty() && part != ".") {
      ++depth;
    }
    start = end + 1;
  }
  return true;
}

Result<> extract_entry(archive* a, archive_entry* e, const fs::path& dest, const ArchiveOptions& options) {
  const char* raw_name = archive_entry_pathname(e);
  std::string raw = raw_name ? raw_name : "";
  std::string rel = AK_TRY(entry_path(raw));
  if (const char* link = archive_entry_hardlink(e)) {
    std::string target = AK_TRY(entry_path(link));
    if (rel.empty() || target.empty()) return fail(refused(raw, "hard link to or from the destination itself"));
    auto from = open_dir_beneath(dest, split(target).parent, false);
    if (!from) return fail(refused(raw, "hard link target: " + from.error().message));
    auto dir = AK_TRY(parent_of(dest, rel, raw));
    AK_TRY_VOID(clear(dir.get(), split(rel).base, false, raw));
    if (::linkat(from->get(), split(target).base.c_str(), dir.get(), split(rel).base.c_str(), 0) != 0)
      return fail(errno_error(fmt::format("tar entry {}: hard link to {}", raw, link)));
    return ok();
  }
  switch (archive_entry_filetype(e)) {
  case AE_IFDIR: {
    if (rel.empty()) return ok();
    auto fd = open_dir_beneath(dest, rel, true);
    if (!fd) return fail(refused(raw, fd.error().message));
    return ok();
  }
  case AE_IFREG:
    if (rel.empty()) return fail(refused(raw, "a file in place of the destination"));
    return extract_file(a, e, dest, rel, raw);
  case AE_IFLNK: {
    if (rel.empty()) return fail(refused(raw, "a symlink in place of the destination"));
    auto dir = AK_TRY(parent_of(dest, rel, raw));
    AK_TRY_VOID(clear(dir.get(), split(rel).base, false, raw));
    const char* target = archive_entry_symlink(e);
    if (options.contained_links && target && !link_contained(rel, target))
      return fail(refused(raw, fmt::format("symlink to '{}' leaves the archive's tree", target)));
    if (!target || ::symlinkat(target, dir.get(), split(rel).base.c_str()) != 0)
      return fail(errno_error(fmt::format("tar entry {}: symlink", raw)));
    return ok();
  }
  default:
    return fail(refused(raw, "only files, directories and links are extracted (a device or fifo?)"));
  }
}

struct ReadContext {
  const ChunkSource* next;
  std::string current;
  std::optional<Error> error;
};

la_ssize_t read_chunk(archive*, void* data, const void** buffer) {
  auto* ctx = static_cast<ReadContext*>(data);
  auto chunk = (*ctx->next)();
  if (!chunk) {
    ctx->error = chunk.error();
    return -1;
  }
  ctx->current = std::move(*chunk);
  *buffer = ctx->current.data();
  return static_cast<la_ssize_t>(ctx->current.size());
}

} // namespace

Result<> extract_archive(const fs::path& dest, const fs::path& file, const ArchiveOptions& options) {
  ReadArchive a(archive_read_new());
  archive_read_support_format_tar(a.get());
  if (options.any_format) {
    archive_read_support_format_zip_seekable(a.get());
    for (auto* filter : {archive_read_support_filter_gzip, archive_read_support_filter_bzip2,
                         archive_read_support_filter_xz, archive_read_support_filter_zstd})
      filter(a.get());
  }
  auto bad = [&](std::string_view what) {
    return Error{ErrorCode::invalid_argument, fmt::format("{}: {}: {}", file.string(), what, message_of(a.get()))};
  };
  if (archive_read_open_filename(a.get(), file.c_str(), 1 << 20) != ARCHIVE_OK)
    return fail(bad(options.any_format ? "not a tar or zip archive" : "not a tar archive"));
  while (true) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return fail(bad("malformed archive"));
    AK_TRY_VOID(extract_entry(a.get(), e, dest, options));
  }
  return ok();
}

Result<> extract_tar(const fs::path& dest, const ChunkSource& next) {
  const ArchiveOptions options;
  ReadArchive a(archive_read_new());
  archive_read_support_format_tar(a.get());
  ReadContext ctx{&next, {}, std::nullopt};
  auto archive_error = [&](std::string_view what) -> Error {
    if (ctx.error) return *ctx.error;
    return Error{ErrorCode::invalid_argument, fmt::format("tar stream: {}: {}", what, message_of(a.get()))};
  };
  if (archive_read_open(a.get(), &ctx, nullptr, read_chunk, nullptr) != ARCHIVE_OK) {
    // An empty archive (no bytes at all) is a valid CopyIn: it only names the destination.
    if (!ctx.error && ctx.current.empty()) return ok();
    return fail(archive_error("not a tar archive"));
  }
  while (true) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return fail(archive_error("malformed archive"));
    // A refused chunk surfaces as a read error inside the entry: its own message is the one to give.
    if (auto done = extract_entry(a.get(), e, dest, options); !done) return fail(ctx.error ? *ctx.error : done.error());
  }
  // Whatever follows the end-of-archive blocks is still read, so a refused later chunk is seen.
  while (!ctx.error) {
    auto rest = next();
    if (!rest) return fail(rest.error());
    if (rest->empty()) break;
  }
  return ok();
}

namespace {

// Hands the tar's bytes on; a reader gone away stops the writer.
class CallbackSink final : public Sink {
public:
  explicit CallbackSink(const std::function<bool(std::string_view)>& out) : m_out(out) {}
  Result<> write(std::span<const std::byte> bytes) override {
    if (!m_out(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size())))
      return fail(ErrorCode::cancelled, "CopyOut: the reader went away");
    return ok();
  }

private:
  const std::function<bool(std::string_view)>& m_out;
};

} // namespace

Result<> write_tar(const fs::path& path, const std::string& name, const std::function<bool(std::string_view)>& out) {
  CallbackSink sink(out);
  // A directory's content goes under the destination, a file into it under its own name.
  struct stat st{};
  if (::lstat(path.c_str(), &st) != 0) return fail(errno_error(name));
  oci::TarOptions options;
  options.destination = S_ISDIR(st.st_mode) ? name : "";
  return oci::write_layer_tar(path, options, sink);
}

} // namespace akbuild::plugin
