#pragma once
// Counters of the remote cache's use, kept in the cache dir (<root>/remote-stats, four decimal
// lines) for `akbuild cache stats`. Several processes add to them at once: each addition is a
// read-add-write under a file lock, replaced atomically.

#include <cstdint>

#include "runner/cas/cache_layout.hh"
#include "runner/core/result.hh"

namespace akbuild::cas {

struct RemoteStats {
  std::uint64_t hits = 0, misses = 0, bytes_down = 0, bytes_up = 0;
  bool operator==(const RemoteStats&) const = default;
};

// The counters so far (all zero when none were kept); corrupt when the file is malformed.
Result<RemoteStats> read_remote_stats(const CacheLayout& layout);
// Adds `delta` to the counters.
Result<> add_remote_stats(const CacheLayout& layout, const RemoteStats& delta);

} // namespace akbuild::cas
