#include "runner/engine/materialize.hh"

#include <cerrno>
#include <map>

#include <fcntl.h>
#include <stdio.h>

#include "runner/cas/tree.hh"
#include "runner/core/beneath.hh"
#include "runner/core/fs.hh"
#include "runner/core/walk.hh"

namespace akbuild::engine {

namespace fs = std::filesystem;

namespace {

// Compares a tree on disk with a stored listing as the walk goes, stopping at the first
// difference: nothing is collected, so a big unchanged output costs one stat per entry.
struct Matcher : TreeVisitor {
  const std::map<std::string, cas::TreeFile>& want;
  cas::CacheDir& cache;
  const fs::path& dest;
  bool is_file = false;
  std::string file_name;  // the entry's name when the tree wraps a single file
  std::size_t seen = 0;

  Matcher(const std::map<std::string, cas::TreeFile>& w, cas::CacheDir& c, const fs::path& d, bool single)
      : want(w), cache(c), dest(d), is_file(single), file_name(single ? d.filename().string() : std::string()) {}

  static Result<> differs() { return fail(ErrorCode::failed_precondition, "differs"); }
  const cas::TreeFile* expect(std::string_view rel) {
    auto it = want.find(rel.empty() ? file_name : std::string(rel));
    if (it == want.end()) return nullptr;
    ++seen;
    return &it->second;
  }
  Result<> directory_begin(std::string_view rel, const FileInfo&) override {
    if (rel.empty()) return ok();
    auto w = expect(rel);
    return w && w->type == 'd' ? ok() : differs();
  }
  Result<> regular(std::string_view rel, const FileInfo& info, int, std::string_view) override {
    auto w = expect(rel);
    if (!w || w->type != (info.executable ? 'x' : 'f') || info.size != w->size) return differs();
    if (w->type == 'f') {
      auto digest = cas::Digest::parse(w->digest);
      if (digest && cache.blobs().is_linked_blob(*digest, w->size, info)) return ok();
    }
    auto d = cas::hash_file_cached(&cache.stat_cache(), is_file ? dest : dest / rel, info);
    return d && d->hex() == w->digest ? ok() : differs();
  }
  Result<> symlink(std::string_view rel, const FileInfo&, std::string_view target) override {
    auto w = expect(rel);
    return w && w->type == 'l' && w->target == target ? ok() : differs();
  }
  Result<> other(std::string_view, const FileInfo&) override { return differs(); }
};

} // namespace

Result<bool> output_matches(cas::CacheDir& cache, const cas::Digest& digest, bool is_file, const fs::path& dest) {
  struct stat st {};
  if (::lstat(dest.c_str(), &st) != 0) return false;
  if (is_file == S_ISDIR(st.st_mode)) return false;
  auto want = AK_TRY(cas::list_tree(cache.blobs(), digest));
  Matcher matcher(want, cache, dest, is_file);
  if (!walk_tree(dest, matcher)) return false;
  return matcher.seen == want.size();
}

Result<bool> output_present(cas::CacheDir& cache, const cas::Digest& digest, bool is_file, const fs::path& root,
                            const std::string& rel) {
  fs::path rel_path(strip_trailing_slashes(rel));
  if (!is_contained_relative_path(rel_path.string())) return false;
  auto parent = open_dir_beneath(root, rel_path.parent_path().string(), false);
  if (!parent) return false;
  return output_matches(cache, digest, is_file, fd_path(parent->get()) / rel_path.filename());
}

Result<bool> materialize_output(cas::CacheDir& cache, const cas::Digest& digest, bool is_file, const fs::path& root,
                                const std::string& rel, bool link) {
  fs::path rel_path(strip_trailing_slashes(rel));
  std::string name = rel_path.filename().string();
  if (!is_contained_relative_path(rel_path.string()))
    return fail(ErrorCode::invalid_argument, rel + ": escapes " + root.string());
  // Every path below goes through the opened parent, never through rel's components again.
  auto parent = AK_TRY(open_dir_beneath(root, rel_path.parent_path().string(), true));
  fs::path dest = fd_path(parent.get()) / name;
  if (AK_TRY(output_matches(cache, digest, is_file, dest))) return false;
  auto tmp = AK_TRY(TempDir::create("." + name + ".akbuild-", fd_path(parent.get())));
  fs::path written = tmp.path() / "t";
  AK_TRY_VOID(cas::materialize_tree(cache.blobs(), digest, written, link));
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
