#pragma once
// A parallel, stat-only listing of a tree: every entry lstat'd (symlink targets read), visited in
// the same order walk_tree visits them (depth first, names sorted as unsigned bytes), but with
// directories read and their entries stat'd on several threads first. For the consumers that
// only need metadata (input collection, stat fingerprints): on a tree of 25,000 files the stat
// calls are the whole cost, and two threads halve it. Content readers use walk_tree.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "runner/core/hash.hh"
#include "runner/core/result.hh"
#include "runner/core/walk.hh"

namespace akbuild {

// What an on_file hook found for a regular file: its content digest, and whether it was computed
// now (false: taken from a cache).
struct FileDigest {
  Sha256Bytes bytes{};
  bool computed = false;
};

// What ScanOptions::on_file decided for a regular file.
struct FileVerdict {
  enum class Choice { skip, known, hash };
  Choice choice = Choice::skip;
  Sha256Bytes digest{};  // with known
};

struct ScanEntry {
  std::string rel;     // relative to the root, '/'-separated; "" for the root itself
  FileInfo info;
  std::string target;  // a symlink's target
  std::optional<FileDigest> digest;  // from ScanOptions::on_file
};

struct ScanOptions {
  unsigned threads = 0;    // 0 = hardware concurrency, at least 2
  unsigned max_depth = 0;  // 0 = unlimited; else deeper entries are an error
  // Whether to list a directory's content (the directory itself is listed either way). Called
  // with the directory's relative path, from several threads at once. Empty = always.
  std::function<bool(std::string_view rel)> descend;
  // false: a directory's FileInfo holds its type only, from the listing, without a stat call
  // (for consumers that ignore directory metadata, as a NAR does). Where the file system does
  // not report types in listings, directories are stat'ed anyway.
  bool stat_directories = true;
  // Called for every regular file on the thread that stat'ed it: leave the file out, take the
  // digest the caller knows (a stat cache hit), or have the scanner hash its content, which it
  // does a directory's files at a time (hash_files_at, core/file_hash.hh). An error stops the scan.
  std::function<Result<FileVerdict>(std::string_view rel, const FileInfo& info)> on_file;
  // Hash every entry's stat record (stat_record.hh) on the scanning threads, a directory's
  // entries at a time, for ScannedTree::stat_digest. A FIFO, socket or device is then an error
  // naming it, since it has no place in a stat fingerprint.
  bool stat_digests = false;
};

// A scanned tree, held compactly (names packed per directory, in one arena per scanning thread)
// until visited.
class ScannedTree {
public:
  struct Node;
  struct Storage;
  ScannedTree(ScannedTree&&) noexcept;
  ScannedTree& operator=(ScannedTree&&) noexcept;
  ~ScannedTree();

  // Entries, the root included.
  std::size_t size() const { return m_size; }

  // With ScanOptions::stat_digests: a SHA-256 over every entry's stat record (the root's, then
  // each directory's, directories in walk order), and the newest mtime or ctime seen (ns since
  // the epoch). Call before visit.
  struct StatDigest {
    Sha256Bytes bytes{};
    std::int64_t newest_ns = 0;
  };
  StatDigest stat_digest() const;
  // Calls `visit` for every entry in walk order, the root first. The entry is reused between
  // calls (copy what you keep); the records are freed once visited, so this runs once.
  Result<> visit(const std::function<Result<>(ScanEntry&)>& visit);

private:
  friend Result<ScannedTree> scan_tree(const std::filesystem::path&, const ScanOptions&);
  ScannedTree();
  ScanEntry m_root;
  std::unique_ptr<Storage> m_storage;  // the root directory's content; null for a file or symlink
  std::size_t m_size = 1;
};

// Scans `root` and everything under it. Never follows symlinks, also not in the path below the
// root while a directory is opened. Errors name the path under `root`.
Result<ScannedTree> scan_tree(const std::filesystem::path& root, const ScanOptions& options = {});

} // namespace akbuild
