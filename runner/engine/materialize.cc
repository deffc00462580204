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

struct Lister : TreeVisitor {
  std::map<std::string, cas::TreeFile> files;
  std::map<std::string, FileInfo> infos;
  std::string prefix;  // the file name, when listing a single file
  std::string name(std::string_view rel) const { return rel.empty() ? prefix : std::string(rel); }
  Result<> directory_begin(std::string_view rel, const FileInfo&) override {
    if (!rel.empty()) files[std::string(rel)] = cas::TreeFile{'d', {}, {}, 0};
    return ok();
  }
  Result<> regular(std::string_view rel, const FileInfo& info, int, std::string_view) override {
    files[name(rel)] = cas::TreeFile{info.executable ? 'x' : 'f', {}, {}, info.size};
    infos[name(rel)] = info;
    return ok();
  }
  Result<> symlink(std::string_view rel, const FileInfo&, std::string_view target) override {
    files[name(rel)] = cas::TreeFile{'l', {}, std::string(target), 0};
    return ok();
  }
  Result<> other(std::string_view, const FileInfo&) override { return ok(); }
};

} // namespace

Result<bool> output_matches(cas::CacheDir& cache, const cas::Digest& digest, bool is_file, const fs::path& dest) {
  struct stat st {};
  if (::lstat(dest.c_str(), &st) != 0) return false;
  if (is_file == S_ISDIR(st.st_mode)) return false;
  auto want = AK_TRY(cas::list_tree(cache.blobs(), digest));
  Lister have;
  if (is_file) have.prefix = dest.filename().string();
  if (!walk_tree(dest, have)) return false;
  if (have.files.size() != want.size()) return false;
  for (const auto& [path, w] : want) {
    auto it = have.files.find(path);
    if (it == have.files.end() || it->second.type != w.type) return false;
    if (w.type == 'l' && it->second.target != w.target) return false;
    if (w.type == 'f' || w.type == 'x') {
      if (it->second.size != w.size) return false;
      if (w.type == 'f' && cache.blobs().is_linked_blob(*cas::Digest::parse(w.digest), w.size, have.infos[path]))
        continue;
      fs::path abs = is_file ? dest : dest / path;
      auto d = cas::hash_file_cached(&cache.stat_cache(), abs, have.infos[path]);
      if (!d || d->hex() != w.digest) return false;
    }
  }
  return true;
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
