#pragma once
// Stat fingerprints: what identifies a tree's entries without reading them. The NAR hash cache
// and the layer cache use them to tell an unchanged tree from its stat data alone.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "runner/core/hash.hh"
#include "runner/core/result.hh"
#include "runner/core/scan.hh"
#include "runner/core/walk.hh"

namespace akbuild {

// Adds one entry: fixed-width fields (size, dev, inode, mtime, ctime, mode and a letter for its
// type) and then the path and an extra string (a symlink target, a hardlink group...), both
// length-prefixed since they may hold any byte but NUL.
void add_stat_record(Hasher& hasher, std::string_view rel, const FileInfo& info, std::string_view extra = {});
// The same bytes, appended to `out` (to hash many records in one call).
void append_stat_record(std::string& out, std::string_view rel, const FileInfo& info, std::string_view extra = {});

struct StatFingerprint {
  std::string digest;         // sha256 hex over every entry's record (ScannedTree::stat_digest's
                              // order, or walk order when `extra` is given)
  std::int64_t newest_ns = 0;  // the newest mtime or ctime seen (ns since the epoch)
  std::size_t entries = 0;
};

// Scans `root` (with `options`) and fingerprints every entry. `extra` gives an entry's extra
// string; by default a symlink's target, and then the records are hashed by the scanning threads
// (ScanOptions::stat_digests). A FIFO, socket or device is an error naming it.
Result<StatFingerprint> stat_fingerprint(const std::filesystem::path& root, const ScanOptions& options = {},
                                         const std::function<std::string(const ScanEntry&)>& extra = {});

} // namespace akbuild
