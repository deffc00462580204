#pragma once
// NAR hashes of directory trees held in memory while a TreeWatcher sees no change under them, so
// a long-lived process (akbuild serve) answers a repeated hash of an unchanged tree without a
// stat walk. The first time, and after any change, the NarHashCache answers (a stat walk, and
// the tree read again when that fingerprint moved). The tree is armed before it is read and its
// hash kept only if no event came in meanwhile, so a kept hash is never older than the tree;
// timestamps play no part, so even a tree written a moment ago is kept.
//
// Usage: WatchedNarHashes hashes(nar_hash_dir); auto answer = AK_TRY(hashes.nar_hash("/abs/src"));

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "nixdrv/hash.hh"
#include "runner/core/result.hh"
#include "runner/core/tree_watcher.hh"

namespace akbuild::nixdrv {

class WatchedNarHashes {
public:
  enum class Source { watch, stat_cache, hashed };
  struct Answer {
    Hash hash;
    Source source = Source::hashed;
  };

  // Keeps at most `max_trees` trees armed, the least recently asked for going first. Without
  // inotify (or past its limits) every call is answered by the NarHashCache.
  // `nar_hash_dir`: where the NarHashCache keeps its entries (the cache dir's nar-hash area).
  explicit WatchedNarHashes(std::filesystem::path nar_hash_dir, std::size_t max_trees = 64);

  // sha256 NAR hash of `path` (absolute). A file or symlink is not watched.
  Result<Answer> nar_hash(const std::filesystem::path& path);

  // Trees currently held (for tests).
  std::size_t trees() const;
  // Watches held for them (for tests).
  std::size_t watches() const { return m_watcher ? m_watcher->watch_count() : 0; }

private:
  struct Known {
    Hash hash;
    std::uint64_t mark = 0;
    std::list<std::string>::iterator used;  // place in m_recent
  };
  void remember(const std::string& key, const Hash& hash, std::uint64_t mark);
  // Drops the tree and its watches (it changed while read, or could not be hashed).
  void forget(const std::string& key);

  std::filesystem::path m_nar_hash_dir;
  std::size_t m_max_trees;
  std::unique_ptr<TreeWatcher> m_watcher;  // null without inotify
  mutable std::mutex m_mutex;
  std::unordered_map<std::string, Known> m_known;
  std::list<std::string> m_recent;  // most recent first
};

std::string_view to_string(WatchedNarHashes::Source source);

} // namespace akbuild::nixdrv
