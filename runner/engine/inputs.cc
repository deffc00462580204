#include "runner/engine/inputs.hh"

#include <optional>

#include "runner/cas/stat_cache.hh"
#include "runner/core/blob_mark.hh"
#include "runner/core/memory.hh"
#include "runner/core/scan.hh"

namespace akbuild::engine {

namespace fs = std::filesystem;

Result<std::vector<InputFile>> collect_inputs(const fs::path& workspace, const GlobSet& globs,
                                              cas::StatCache* stat_cache, unsigned threads, InputStats* stats,
                                              WholeDirs* whole) {
  std::vector<std::string>* whole_dirs = whole ? &whole->tops : nullptr;
  std::vector<InputFile> files;
  InputStats counts;
  if (globs.empty()) {
    if (stats) *stats = counts;
    return files;
  }
  std::string prefix = workspace.string();
  if (!prefix.ends_with('/')) prefix.push_back('/');
  ScanOptions options;
  options.threads = threads;
  options.descend = [&globs](std::string_view rel) {
    return rel.empty() || (rel != ".git" && globs.could_match_below(rel));
  };
  // Each matching file is looked up in the stat cache on the thread that stat'ed it, or left to
  // the scanner to hash with its directory's other files while that directory is open: reading
  // by name under the directory spares the kernel a walk of the whole path, and the hashing of
  // the first directories overlaps the scan of the rest.
  options.on_file = [&](std::string_view rel, const FileInfo& info) -> Result<FileVerdict> {
    if (!globs.matches(rel)) return FileVerdict{};
    if (stat_cache) {
      thread_local std::string abs;
      abs.assign(prefix).append(rel);
      if (auto d = stat_cache->lookup(abs, info)) return FileVerdict{FileVerdict::Choice::known, d->bytes()};
    }
    return FileVerdict{FileVerdict::Choice::hash, {}};
  };
  auto tree = AK_TRY(scan_tree(workspace, options));
  // What follows (inputs, digests, manifest lines and text) takes ~600 bytes per file.
  prefault_heap(tree.size() * 600);
  files.reserve(tree.size());
  std::string abs = prefix;
  // A matched directory stays an input only while nothing below it is (an empty one, say): the
  // paths under the others recreate them when staged. The walk is depth first, so whatever is
  // below a directory comes right after it.
  auto drop_parent_dir = [&files](std::string_view rel) {
    if (files.empty() || files.back().type != FileType::directory) return;
    const std::string& dir = files.back().path;
    if (rel.size() > dir.size() && rel.starts_with(dir) && rel[dir.size()] == '/') files.pop_back();
  };
  // The directories open on the walk's way down, each with whether every entry below it so far
  // is an input; one that stays so is whole (the topmost of them go to `whole_dirs`).
  struct OpenDir {
    std::string rel;
    bool whole = true;
  };
  std::vector<OpenDir> open;
  std::vector<InputFile> entered;  // every directory the walk entered, with its stat
  auto is_under = [](std::string_view path, std::string_view dir) {
    return path.size() > dir.size() && path.starts_with(dir) && path[dir.size()] == '/';
  };
  auto close_dirs = [&](std::string_view rel, bool all) {
    while (!open.empty() && (all || !is_under(rel, open.back().rel))) {
      OpenDir d = std::move(open.back());
      open.pop_back();
      if (!d.whole && !open.empty()) open.back().whole = false;
      if (!d.whole || !whole_dirs) continue;
      while (!whole_dirs->empty() && is_under(whole_dirs->back(), d.rel)) whole_dirs->pop_back();
      whole_dirs->push_back(std::move(d.rel));
    }
  };
  auto not_input = [&open] {
    if (!open.empty()) open.back().whole = false;
  };
  AK_TRY_VOID(tree.visit([&](ScanEntry& e) -> Result<> {
    if (e.rel.empty()) return ok();
    close_dirs(e.rel, false);
    if (e.info.type == FileType::directory) {
      // Only a directory the walk entered is known to hold no inputs.
      if (e.rel == ".git" || !globs.could_match_below(e.rel)) {
        not_input();
        return ok();
      }
      open.push_back({e.rel, true});
      if (whole)
        entered.push_back(InputFile{e.rel, FileType::directory, false, {}, {}, 0, 0, e.info.mtime_ns, e.info.ino});
      if (!globs.matches(e.rel)) return ok();
      drop_parent_dir(e.rel);
      files.push_back(InputFile{e.rel, FileType::directory, false, {}, {}, 0, 0, 0, 0});
      return ok();
    }
    if ((e.info.type == FileType::regular && !e.digest) ||  // on_file did not match it
        (e.info.type != FileType::regular && !globs.matches(e.rel))) {
      not_input();
      return ok();
    }
    if (e.info.type == FileType::other) return fail(unsupported_type_error(e.rel, e.info));
    drop_parent_dir(e.rel);
    bool regular = e.info.type == FileType::regular;
    files.push_back(InputFile{e.rel, e.info.type, regular && e.info.executable, {}, e.target,
                              regular ? e.info.size : 0, recorded_permissions(e.info), e.info.mtime_ns, e.info.ino});
    if (!regular) return ok();
    cas::Digest digest(e.digest->bytes);
    files.back().digest = digest.hex();
    if (e.digest->computed) {
      ++counts.hashed_files;
      if (stat_cache) stat_cache->record(abs.assign(prefix).append(e.rel), e.info, digest);
    }
    return ok();
  }));
  close_dirs({}, true);
  if (whole) {
    // Both in walk order, and the directories inside a top come right after it.
    std::size_t top = 0;
    bool inside = false;
    for (auto& d : entered) {
      if (top == whole->tops.size()) break;
      if (inside && !is_under(d.path, whole->tops[top])) {
        inside = false;
        if (++top == whole->tops.size()) break;
      }
      if (d.path == whole->tops[top]) inside = true;
      if (inside) whole->dirs.push_back(std::move(d));
    }
  }
  counts.files = files.size();
  if (stats) *stats = counts;
  return files;
}

std::optional<std::string> input_change(const fs::path& workspace, const InputFile& f) {
  auto now = stat_path(workspace / f.path);
  if (!now) return f.path + ": gone";
  // A directory is keyed by being one: entries that are not inputs may come and go in it.
  if (f.type == FileType::directory) {
    if (now->type != FileType::directory) return f.path + ": no longer a directory";
    return std::nullopt;
  }
  std::uint64_t size = f.type == FileType::regular ? now->size : 0;
  if (now->type != f.type || size != f.size) return f.path + ": size or type changed";
  if (now->mtime_ns != f.mtime_ns) return f.path + ": modified";
  if (now->ino != f.ino) return f.path + ": replaced";
  // A staged input is a link to the same inode: a chmod reaches what the step sees.
  if (recorded_permissions(*now) != f.permissions) return f.path + ": permissions changed";
  return std::nullopt;
}

std::optional<std::string> changed_input(const fs::path& workspace, const std::vector<InputFile>& inputs,
                                         const std::vector<InputFile>& dirs) {
  for (const auto& f : inputs)
    if (auto change = input_change(workspace, f)) return change;
  for (const auto& d : dirs)
    if (auto change = dir_entries_change(workspace, d)) return change;
  return std::nullopt;
}

std::optional<std::string> dir_entries_change(const fs::path& workspace, const InputFile& dir) {
  auto now = stat_path(workspace / dir.path);
  if (!now || now->type != FileType::directory) return dir.path + ": gone";
  if (now->mtime_ns != dir.mtime_ns || now->ino != dir.ino) return dir.path + ": an entry added or removed";
  return std::nullopt;
}

} // namespace akbuild::engine
