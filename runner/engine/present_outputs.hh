#pragma once
// Outputs a long-lived engine (the daemon's) has seen in the workspace exactly as stored, kept
// while a TreeWatcher sees no change under them: a hit whose outputs are in place then costs no
// walk of them, as Bazel's --watchfs and git's fsmonitor save theirs. Thread-safe.
//
// Usage (checking one output directory `dest` against stored tree `digest`):
//   if (present.unchanged(dest, digest)) ... in place, nothing to read
//   auto mark = present.arm(dest);            // before reading the tree
//   if (walk shows it matches) present.remember(dest, digest, mark);

#include <filesystem>
#include <map>
#include <mutex>
#include <optional>

#include "runner/cas/digest.hh"
#include "runner/core/tree_watcher.hh"

namespace akbuild::engine {

class PresentOutputs {
public:
  // Trees beyond this many are forgotten, oldest first, and their watches released.
  static constexpr std::size_t k_max_trees = 256;

  // `watcher` may be null: nothing is remembered then.
  explicit PresentOutputs(TreeWatcher* watcher) : m_watcher(watcher) {}

  // Whether `dest` was remembered holding `digest` and nothing under it changed since.
  bool unchanged(const std::filesystem::path& dest, const cas::Digest& digest);
  // Starts watching `dest` (an absolute directory path); nullopt when it cannot be watched.
  std::optional<std::uint64_t> arm(const std::filesystem::path& dest);
  // Records that `dest`, read after `mark`, holds `digest`; nothing for an empty mark.
  void remember(const std::filesystem::path& dest, const cas::Digest& digest, std::optional<std::uint64_t> mark);

private:
  struct Seen {
    cas::Digest digest;
    std::uint64_t mark = 0;
    std::uint64_t order = 0;  // when remembered, for forgetting the oldest
  };
  TreeWatcher* m_watcher;
  std::mutex m_mutex;
  std::map<std::string, Seen> m_seen;
  std::uint64_t m_next_order = 0;
};

} // namespace akbuild::engine
