#include "nixdrv/watched_nar_hashes.hh"

#include <optional>
#include <vector>

#include <sys/stat.h>

#include "nixdrv/nar_hash_cache.hh"
#include "runner/core/fs.hh"
#include "runner/core/log.hh"

namespace akbuild::nixdrv {

WatchedNarHashes::WatchedNarHashes(std::filesystem::path nar_hash_dir, std::size_t max_trees)
    : m_nar_hash_dir(std::move(nar_hash_dir)), m_max_trees(std::max<std::size_t>(1, max_trees)) {
  auto watcher = TreeWatcher::open();
  if (watcher) m_watcher = std::move(*watcher);
  else log_warning("no file watching, every hash-path walks its tree: {}", watcher.error().message);
}

Result<WatchedNarHashes::Answer> WatchedNarHashes::nar_hash(const std::filesystem::path& path) {
  std::string key = strip_trailing_slashes(path.lexically_normal().string());
  std::optional<Known> known;
  if (m_watcher) {
    std::lock_guard lock(m_mutex);
    if (auto it = m_known.find(key); it != m_known.end()) known = it->second;
  }
  // Not under m_mutex: the watcher's lock may be held by another tree's arm for its walk.
  if (known && m_watcher->unchanged_since(key, known->mark)) {
    std::lock_guard lock(m_mutex);
    if (auto it = m_known.find(key); it != m_known.end()) m_recent.splice(m_recent.begin(), m_recent, it->second.used);
    return Answer{known->hash, Source::watch};
  }
  struct stat st {};
  bool directory = ::lstat(key.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  if (known && !directory) forget(key);  // no longer a tree to watch
  std::optional<std::uint64_t> mark;
  if (m_watcher && directory) {
    auto armed = m_watcher->arm(key);
    if (armed) mark = *armed;
    else log_warning("{}: not watched: {}", key, armed.error().message);
  }
  NarHashCache cache(m_nar_hash_dir);
  auto hash = cache.nar_hash(key);
  if (mark) {
    if (hash && m_watcher->unchanged_since(key, *mark)) remember(key, *hash, *mark);
    else forget(key);
  }
  if (!hash) return fail(hash.error());
  return Answer{std::move(*hash), cache.last_was_hit() ? Source::stat_cache : Source::hashed};
}

void WatchedNarHashes::forget(const std::string& key) {
  {
    std::lock_guard lock(m_mutex);
    if (auto it = m_known.find(key); it != m_known.end()) {
      m_recent.erase(it->second.used);
      m_known.erase(it);
    }
  }
  m_watcher->disarm(key);
}

void WatchedNarHashes::remember(const std::string& key, const Hash& hash, std::uint64_t mark) {
  std::vector<std::string> evicted;
  {
    std::lock_guard lock(m_mutex);
    if (auto it = m_known.find(key); it != m_known.end()) {
      // Of two reads that both saw no change, the later one's mark checks the shorter span.
      if (mark > it->second.mark) {
        it->second.hash = hash;
        it->second.mark = mark;
      }
      m_recent.splice(m_recent.begin(), m_recent, it->second.used);
      return;
    }
    m_recent.push_front(key);
    m_known.emplace(key, Known{hash, mark, m_recent.begin()});
    while (m_known.size() > m_max_trees) {
      evicted.push_back(m_recent.back());
      m_known.erase(m_recent.back());
      m_recent.pop_back();
    }
  }
  // Outside m_mutex: the watcher's lock may be held by another tree's walk.
  for (const auto& tree : evicted) m_watcher->disarm(tree);
}

std::size_t WatchedNarHashes::trees() const {
  std::lock_guard lock(m_mutex);
  return m_known.size();
}

std::string_view to_string(WatchedNarHashes::Source source) {
  switch (source) {
  case WatchedNarHashes::Source::watch: return "watch";
  case WatchedNarHashes::Source::stat_cache: return "stat-cache";
  case WatchedNarHashes::Source::hashed: return "hashed";
  }
  return "hashed";
}

} // namespace akbuild::nixdrv
