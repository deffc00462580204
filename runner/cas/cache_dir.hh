#pragma once
// The cache directory layout (DESIGN.md "Cache dir"), in one place:
//   <root>/cas/sha256/<2 hex>/<62 hex>   blobs
//   <root>/ac/<2 hex>/<key hex>          action results
//   <root>/ac/last/<step id hash>        last manifest per step id
//   <root>/stat-cache                    stat cache (runner/cas/stat_cache.hh)
//   <root>/locks/<key hex>.lock          in-flight action locks (cross-process dedupe)
//   <root>/tmp/                          temp files and dirs (same filesystem, for renames)
// Opening checks that the root is writable and fails with one clear line if not.

#include <filesystem>
#include <memory>

#include "runner/cas/action_cache.hh"
#include "runner/cas/blob_store.hh"
#include "runner/cas/stat_cache.hh"

namespace akbuild::cas {

class CacheDir {
public:
  // Creates the layout if missing; invalid_argument naming the dir if it cannot be written.
  static Result<std::unique_ptr<CacheDir>> open(const std::filesystem::path& root);

  const std::filesystem::path& root() const { return m_root; }
  BlobStore& blobs() { return *m_blobs; }
  ActionCache& actions() { return *m_actions; }
  StatCache& stat_cache() { return *m_stat; }
  std::filesystem::path tmp_dir() const { return m_root / "tmp"; }
  std::filesystem::path lock_path(const Digest& key) const;

private:
  std::filesystem::path m_root;
  std::unique_ptr<BlobStore> m_blobs;
  std::unique_ptr<ActionCache> m_actions;
  std::unique_ptr<StatCache> m_stat;
};

struct CacheStats {
  std::uint64_t blobs = 0, blob_bytes = 0, actions = 0;
};
Result<CacheStats> cache_stats(CacheDir& cache);

struct VerifyReport {
  std::uint64_t blobs_checked = 0, corrupt_removed = 0, actions_checked = 0, actions_removed = 0;
  std::vector<std::string> problems;  // one line each
};
// Re-hashes every blob (evicting corrupt ones) and drops action results whose blobs are gone.
Result<VerifyReport> verify_cache(CacheDir& cache);

struct GcReport {
  std::uint64_t removed_actions = 0, removed_blobs = 0, freed_bytes = 0, kept_bytes = 0;
};
// Removes least recently used action results (and the blobs only they reach) until the blobs
// total at most `max_bytes`. Safe while other processes use the cache (takes the gc lock).
Result<GcReport> gc_cache(CacheDir& cache, std::uint64_t max_bytes);

} // namespace akbuild::cas
