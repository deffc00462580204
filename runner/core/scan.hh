#pragma once
// A parallel, stat-only listing of a tree: every entry lstat'd (symlink targets read), in the
// same order walk_tree visits them (depth first, names sorted as unsigned bytes), but with
// directories read and their entries stat'd on several threads. For the consumers that only
// need metadata (input collection, stat fingerprints): on a tree of 25,000 files the stat
// calls are the whole cost, and two threads halve it. Content readers use walk_tree.

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "runner/core/result.hh"
#include "runner/core/walk.hh"

namespace akbuild {

struct ScanEntry {
  std::string rel;     // relative to the root, '/'-separated; "" for the root itself
  FileInfo info;
  std::string target;  // a symlink's target
};

struct ScanOptions {
  unsigned threads = 0;    // 0 = hardware concurrency, at least 2
  unsigned max_depth = 0;  // 0 = unlimited; else deeper entries are an error
  // Whether to list a directory's content (the directory itself is listed either way). Called
  // with the directory's relative path, from several threads at once. Empty = always.
  std::function<bool(std::string_view rel)> descend;
};

// The root (first, rel "") and everything under it. Never follows symlinks, also not in the
// path below the root while a directory is opened. Errors name the path under `root`.
Result<std::vector<ScanEntry>> scan_tree(const std::filesystem::path& root, const ScanOptions& options = {});

} // namespace akbuild
