#pragma once
// Leftovers: what processes killed half-way leave in a cache dir. Run dirs (tmp/run-*, holding
// their lock while they live), blob temp files (tmp/blob-*, flocked while written), other temp
// dirs and files under tmp/, temp files of atomic writes (".tmp-*") in the record areas, and
// lock files of actions nobody runs (locks/<key>.lock, one per key ever run).
// Something counts as a leftover only when it is older than k_leftover_age and no live process
// holds its lock; it is removed while this process holds that lock, so nobody can take it up.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <vector>

#include "runner/cas/cache_layout.hh"
#include "runner/core/result.hh"

namespace akbuild::cas {

// Longer than any gap between creating a temp file or dir and taking its lock (or finishing an
// atomic write), so a fresh one is never taken for a leftover.
inline constexpr std::chrono::minutes k_leftover_age{10};

struct Leftover {
  std::filesystem::path path;
  std::uint64_t bytes = 0;
  bool lock_file = false;  // an idle action lock (locks/), not a temp file or dir
};

// The bytes of the regular files under `dir` (0 when it is missing).
std::uint64_t tree_bytes(const std::filesystem::path& dir);

// The leftovers in the cache dir now.
Result<std::vector<Leftover>> find_leftovers(const CacheLayout& layout);

// Removes one if it is still a leftover (its lock free); false when a process took it up.
Result<bool> remove_leftover(const Leftover& leftover);

} // namespace akbuild::cas
