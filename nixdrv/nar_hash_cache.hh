#pragma once
// A persistent cache of NAR hashes keyed by a stat-only fingerprint of the tree, so hashing an
// unchanged tree costs one walk of lstat calls instead of reading every byte.
//
// Entry: <dir>/<sha256 of the absolute root path> (the cache dir's nar-hash area), holding the fingerprint (the stat
// records of every entry, core/stat_record.hh: relative path, type, size, mode, dev, inode,
// mtime and ctime; directories below the root by type only, as a NAR has no directory
// metadata), the NAR hash, and the entry count (a size hint for the next scan). Soundness: any
// change to a file's content or metadata moves its ctime (which no user can set) or its inode,
// and a directory's entries change with its content. A racily clean tree, i.e. one with an entry whose mtime or ctime
// is within k_racy_margin of the moment hashing started, is never recorded: a change in the same
// clock tick could leave its stat unchanged. So a hit never returns a stale hash.
//
// Usage: NarHashCache cache(nar_hash_dir); auto h = AK_TRY(cache.nar_hash("src"));

#include <chrono>
#include <filesystem>

#include "nixdrv/hash.hh"
#include "runner/core/result.hh"
#include "runner/core/stat_record.hh"

namespace akbuild::nixdrv {

class NarHashCache {
public:
  // Coarse enough for every file system's timestamp granularity (FAT: 2 s) and clock skew.
  static constexpr std::chrono::milliseconds k_racy_margin{2000};

  // Entries live in `dir`, which the caller's cache dir owns (cas::CacheLayout::nar_hashes()).
  explicit NarHashCache(std::filesystem::path dir, std::chrono::milliseconds racy_margin = k_racy_margin)
      : m_dir(std::move(dir)), m_margin(racy_margin) {}

  // sha256 NAR hash of `path`, from the cache when its fingerprint matches, else computed and
  // recorded. Failing to read or write the cache is not an error (the hash is computed).
  Result<Hash> nar_hash(const std::filesystem::path& path);
  // Whether the last nar_hash() call was answered from the cache (for tests and -v).
  bool last_was_hit() const { return m_last_hit; }

  // The stat fingerprint of a tree (with its newest mtime/ctime and entry count).
  using Fingerprint = StatFingerprint;
  static Result<Fingerprint> fingerprint(const std::filesystem::path& path);

private:
  std::filesystem::path m_dir;
  std::chrono::milliseconds m_margin;
  bool m_last_hit = false;
};

} // namespace akbuild::nixdrv
