#pragma once
// The cache directory: the one owner of every area of its layout (runner/cas/cache_layout.hh).
// Stores of the lower layers get their area's path or an interface from it; stats, verify and
// gc cover every area.
// Opening a missing cache dir creates it, and fails with one clear line if it cannot. An existing
// cache dir this process cannot write (a read-only mount, a shared dir of another user) opens
// read-only: it serves hits, and anything that would write fails naming it.

#include <filesystem>
#include <memory>
#include <string_view>

#include "runner/cas/action_cache.hh"
#include "runner/cas/blob_store.hh"
#include "runner/cas/cache_layout.hh"
#include "runner/cas/layer_records.hh"
#include "runner/cas/stat_cache.hh"
#include "runner/core/fs.hh"

namespace akbuild::cas {

class CacheDir {
public:
  // Creates the layout if missing; invalid_argument naming the dir if it cannot be written
  // (or, when it exists, read).
  static Result<std::unique_ptr<CacheDir>> open(const std::filesystem::path& root);

  const std::filesystem::path& root() const { return m_layout.root; }
  const CacheLayout& layout() const { return m_layout; }
  bool read_only() const { return m_read_only; }
  // failed_precondition "cache dir <root> is read-only: cannot <what>" when it is.
  Result<> require_writable(std::string_view what) const;

  BlobStore& blobs() { return *m_blobs; }
  ActionCache& actions() { return *m_actions; }
  LayerRecords& layers() { return *m_layers; }
  StatCache& stat_cache() { return *m_stat; }
  std::filesystem::path tmp_dir() const { return m_layout.tmp(); }
  std::filesystem::path lock_path(const Digest& key) const;
  // Blocks until this process holds the in-flight lock of action `key`. gc removes idle lock
  // files; a lock taken on a file removed meanwhile is dropped and taken again on the new one.
  Result<FileLock> lock_action(const Digest& key) const;

private:
  CacheLayout m_layout;
  bool m_read_only = false;
  std::unique_ptr<BlobStore> m_blobs;
  std::unique_ptr<ActionCache> m_actions;
  std::unique_ptr<LayerRecords> m_layers;
  std::unique_ptr<StatCache> m_stat;
};

// Entries and bytes of one area.
struct AreaStats {
  std::uint64_t entries = 0, bytes = 0;
};

struct CacheStats {
  std::uint64_t blobs = 0, blob_bytes = 0, actions = 0;
  AreaStats action_records, last_manifests, layers, tools, nar_hashes, pushed, stat_cache;
  AreaStats remote_actions;  // one entry per cloned commit, its files' bytes
  AreaStats leftovers;   // temp files and run dirs of killed processes, stray temp files, idle locks
  std::uint64_t total_bytes = 0;  // every area
};
Result<CacheStats> cache_stats(CacheDir& cache);

struct VerifyReport {
  std::uint64_t blobs_checked = 0, corrupt_removed = 0, actions_checked = 0, actions_removed = 0;
  std::uint64_t layers_checked = 0, layers_removed = 0, entries_checked = 0, entries_removed = 0;
  std::vector<std::string> problems;  // one line each
};
// Re-hashes every blob (evicting corrupt ones), drops action and layer records that are invalid
// or whose blobs are gone, and entries of the other areas that are not well-formed (in
// remote-actions/, anything but a directory named by a commit at the end of its path).
Result<VerifyReport> verify_cache(CacheDir& cache);

struct GcReport {
  std::uint64_t removed_actions = 0, removed_blobs = 0, freed_bytes = 0, kept_bytes = 0;
  std::uint64_t removed_layers = 0, removed_entries = 0, removed_leftovers = 0;
};
// Reclaims what killed processes left (temp files and run dirs no live process holds, idle lock
// files, all older than a grace period), then removes the least recently used entries of every
// area (action results and layer records with the blobs only they reach, tool versions, NAR
// hashes, push records, last manifests, remote actions by the commit) until the whole cache dir
// takes at most `max_bytes`.
// Safe while other processes use the cache (takes the gc lock).
Result<GcReport> gc_cache(CacheDir& cache, std::uint64_t max_bytes);

} // namespace akbuild::cas
