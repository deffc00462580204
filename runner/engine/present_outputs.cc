#include "runner/engine/present_outputs.hh"

#include <algorithm>

namespace akbuild::engine {

bool PresentOutputs::unchanged(const std::filesystem::path& dest, const cas::Digest& digest) {
  if (!m_watcher) return false;
  std::uint64_t mark = 0;
  {
    std::lock_guard lock(m_mutex);
    auto it = m_seen.find(dest.string());
    if (it == m_seen.end() || it->second.digest != digest) return false;
    mark = it->second.mark;
  }
  return m_watcher->unchanged_since(dest, mark);
}

std::optional<std::uint64_t> PresentOutputs::arm(const std::filesystem::path& dest) {
  if (!m_watcher || !dest.is_absolute()) return std::nullopt;
  auto mark = m_watcher->arm(dest);
  if (!mark) return std::nullopt;
  return *mark;
}

void PresentOutputs::remember(const std::filesystem::path& dest, const cas::Digest& digest,
                              std::optional<std::uint64_t> mark) {
  if (!m_watcher || !mark) return;
  std::string forgotten;
  {
    std::lock_guard lock(m_mutex);
    m_seen.insert_or_assign(dest.string(), Seen{digest, *mark, m_next_order++});
    if (m_seen.size() <= k_max_trees) return;
    auto oldest = std::min_element(m_seen.begin(), m_seen.end(),
                                   [](const auto& a, const auto& b) { return a.second.order < b.second.order; });
    forgotten = oldest->first;
    m_seen.erase(oldest);
  }
  m_watcher->disarm(forgotten);
}

} // namespace akbuild::engine
