#include "runner/engine/materialize.hh"

#include <algorithm>
#include <cerrno>
#include <map>

#include <fcntl.h>
#include <stdio.h>

#include "runner/cas/tree.hh"
#include "runner/core/beneath.hh"
#include "runner/core/clock.hh"
#include "runner/core/file_hash.hh"
#include "runner/core/fs.hh"
#include "runner/core/stat_record.hh"
#include "runner/core/walk.hh"

namespace akbuild::engine {

namespace fs = std::filesystem;

namespace {

// How long after an entry's last change its stat fields may still miss a later change (the
// coarse clock the kernel stamps with; some file systems round to seconds): a tree with an entry
// changed this recently is not fingerprinted.
constexpr std::int64_t k_settle_ns = 2'000'000'000;

// Compares a tree on disk with a stored listing as the walk goes, stopping at the first
// difference: nothing is collected, so a big unchanged output costs one stat per entry.
struct Matcher : TreeVisitor {
  const std::map<std::string, cas::TreeFile>* want;
  cas::CacheDir& cache;
  const fs::path& known_as;  // the path the stat cache knows the tree by (dest is an fd path)
  bool is_file = false;
  std::string file_name;  // the entry's name when the tree wraps a single file
  std::size_t seen = 0;

  Matcher(const std::map<std::string, cas::TreeFile>& w, cas::CacheDir& c, const fs::path& d, const fs::path& k,
          bool single)
      : want(&w), cache(c), known_as(k), is_file(single), file_name(single ? d.filename().string() : std::string()) {}

  static Result<> differs() { return fail(ErrorCode::failed_precondition, "differs"); }
  const cas::TreeFile* expect(std::string_view rel) {
    auto it = want->find(rel.empty() ? file_name : std::string(rel));
    if (it == want->end()) return nullptr;
    ++seen;
    return &it->second;
  }
  Result<> directory_begin(std::string_view rel, const FileInfo&) override {
    if (rel.empty()) return ok();
    auto w = expect(rel);
    return w && w->type == 'd' ? ok() : differs();
  }
  Result<> regular(std::string_view rel, const FileInfo& info, int dirfd, std::string_view name) override {
    auto w = expect(rel);
    if (!w || w->type != (info.executable ? 'x' : 'f') || info.size != w->size) return differs();
    if (w->type == 'f') {
      auto digest = cas::Digest::parse(w->digest);
      if (digest && cache.blobs().is_linked_blob(*digest, w->size, info)) return ok();
    }
    // Keyed by the workspace path, the same in every process (an fd path is not); read through
    // the walk's open directory.
    std::string key = (is_file ? known_as : known_as / rel).string();
    auto digest = cache.stat_cache().lookup(key, info);
    if (!digest) {
      auto bytes = hash_file_at(dirfd, std::string(name).c_str(), info.size);
      if (!bytes) return differs();
      digest = cas::Digest(*bytes);
      cache.stat_cache().record(key, info, *digest);
    }
    return digest->hex() == w->digest ? ok() : differs();
  }
  Result<> symlink(std::string_view rel, const FileInfo&, std::string_view target) override {
    auto w = expect(rel);
    return w && w->type == 'l' && w->target == target ? ok() : differs();
  }
  Result<> other(std::string_view, const FileInfo&) override { return differs(); }
};


} // namespace

Result<bool> output_matches(cas::CacheDir& cache, const cas::Digest& digest, bool is_file, const fs::path& dest,
                            const fs::path& known_as) {
  struct stat st {};
  if (::lstat(dest.c_str(), &st) != 0) return false;
  if (is_file == S_ISDIR(st.st_mode)) return false;
  const fs::path& name = known_as.empty() ? dest : known_as;
  // A tree that matched before is the same tree while every entry's stat record is the same (a
  // write moves an mtime and a ctime, a replacement the inode): the stat cache keeps the
  // fingerprint of those records under the tree's path and digest, tagged with the root's stat.
  // Checking it costs one parallel scan: no listing, no lookup per file.
  std::string key = "\x01present-output " + name.string() + " " + digest.hex();
  FileInfo tag = file_info_from_stat(st);
  tag.size = 0;
  auto before = stat_fingerprint(dest);
  auto known = before ? cache.stat_cache().lookup(key, tag) : std::nullopt;
  if (known && known->hex() == before->digest) return true;
  auto want = AK_TRY(cas::list_tree(cache.blobs(), digest));
  Matcher matcher(want, cache, dest, name, is_file);
  if (!walk_tree(dest, matcher) || matcher.seen != want.size()) return false;
  // Remembered only for a tree that was the same before and after it was compared, and whose
  // newest change is older than the clock's granularity (else a write may not show).
  if (before && before->newest_ns < wall_clock_ns() - k_settle_ns)
    if (auto after = stat_fingerprint(dest); after && after->digest == before->digest)
      if (auto print = cas::Digest::parse(before->digest)) cache.stat_cache().record(key, tag, *print);
  return true;
}

Result<bool> output_present(cas::CacheDir& cache, const cas::Digest& digest, bool is_file, const fs::path& root,
                            const std::string& rel) {
  fs::path rel_path(strip_trailing_slashes(rel));
  if (!is_contained_relative_path(rel_path.string())) return false;
  auto parent = open_dir_beneath(root, rel_path.parent_path().string(), false);
  if (!parent) return false;
  return output_matches(cache, digest, is_file, fd_path(parent->get()) / rel_path.filename(), root / rel_path);
}

Result<bool> materialize_output(cas::CacheDir& cache, const cas::Digest& digest, bool is_file, const fs::path& root,
                                const std::string& rel) {
  fs::path rel_path(strip_trailing_slashes(rel));
  std::string name = rel_path.filename().string();
  if (!is_contained_relative_path(rel_path.string()))
    return fail(ErrorCode::invalid_argument, rel + ": escapes " + root.string());
  // Every path below goes through the opened parent, never through rel's components again.
  auto parent = AK_TRY(open_dir_beneath(root, rel_path.parent_path().string(), true));
  fs::path dest = fd_path(parent.get()) / name;
  if (AK_TRY(output_matches(cache, digest, is_file, dest, root / rel_path))) return false;
  auto tmp = AK_TRY(TempDir::create("." + name + ".akbuild-", fd_path(parent.get())));
  fs::path written = tmp.path() / "t";
  AK_TRY_VOID(cas::materialize_tree(cache.blobs(), digest, written));
  fs::path src = is_file ? written / name : written;
  std::string shown = (root / rel_path).string();
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (::renameat2(AT_FDCWD, src.c_str(), parent.get(), name.c_str(), RENAME_NOREPLACE) == 0) return true;
    if (errno != EEXIST) return fail(errno_error("rename to " + shown));
    // Something is there: swap it out in one step; the old content goes away with tmp.
    if (::renameat2(AT_FDCWD, src.c_str(), parent.get(), name.c_str(), RENAME_EXCHANGE) == 0) return true;
    if (errno != ENOENT) return fail(errno_error("rename over " + shown));
  }
  return fail(ErrorCode::io, shown + ": kept changing while being replaced");
}

} // namespace akbuild::engine
