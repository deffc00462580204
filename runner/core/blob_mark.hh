#pragma once
// The mark of a blob in a cache's store (cas/blob_store.hh): read-only (0444) with an mtime of
// 1 s, as in a Nix store. Outputs are materialized as hard links to their blobs, so a workspace
// holds marked files; the tree they came from records them as plain files (0644). Keys and image
// layers read a marked file's permissions as its tree records them, so a linked output, a copy
// of it and the file the step first wrote are the same input.

#include <cstdint>

#include <time.h>

#include "runner/core/walk.hh"

namespace akbuild {

inline constexpr std::uint32_t k_blob_mode = 0444;
inline constexpr struct timespec k_blob_mtime = {1, 0};

// A regular file with exactly the blob mode and mtime (a blob, a link to one, or a copy that kept
// both, like `cp -a` of a Nix store path).
inline bool carries_blob_mark(const FileInfo& info) {
  return info.type == FileType::regular && (info.mode & 07777) == k_blob_mode &&
         info.mtime_ns == k_blob_mtime.tv_sec * 1'000'000'000LL + k_blob_mtime.tv_nsec;
}

// The permission bits a key or an image layer records for `info`: 0644 for a marked file, else
// its own.
inline std::uint32_t recorded_permissions(const FileInfo& info) {
  return carries_blob_mark(info) ? 0644u : info.mode & 07777;
}

} // namespace akbuild
