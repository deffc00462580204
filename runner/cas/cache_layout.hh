#pragma once
// The cache directory layout (docs/architecture.md, "The cache directory"): every area of the cache dir, in one place.
// The cache dir owns them all; code in lower or neighbouring layers (nixdrv, oci) is handed the
// path of its area (or an interface) and never spells a cache path itself.
//   <root>/cas/sha256/<2 hex>/<62 hex>    blobs (file contents, trees, logs, image layers)
//   <root>/ac/<2 hex>/<key hex>           action results (sealed records)
//   <root>/ac/last/<step id hash>         last manifest per step id (for --explain)
//   <root>/layers/<2 hex>/<key hex>       image layer records: layer key -> layer blob
//   <root>/tools/<digest>.version         a tool binary's `--version` line
//   <root>/nar-hash/<path hash>           NAR hashes by a stat fingerprint (nixdrv/nar_hash_cache)
//   <root>/pushed/<registry>/<hex>        which repository of a registry holds a blob (mounts)
//   <root>/remote-actions/<host>/<owner>/<repo>/<commit>   remote actions and reusable workflows
//                                         (akbuild act), one entry per commit, mtime = last use
//   <root>/stat-cache                     stat cache (runner/cas/stat_cache.hh)
//   <root>/locks/<key hex>.lock           in-flight action locks (cross-process dedupe)
//   <root>/gc.lock                        held by gc
//   <root>/hmac-key                       32 random bytes, 0600: keys manifest lines holding secrets
//                                         (runner/engine/secret_lines.hh)
//   <root>/tmp/                           temp files and run dirs (same filesystem, for renames)
// Header-only path arithmetic: naming an area opens and creates nothing.

#include <filesystem>

namespace akbuild::cas {

struct CacheLayout {
  std::filesystem::path root;

  std::filesystem::path blobs() const { return root / "cas" / "sha256"; }
  std::filesystem::path actions() const { return root / "ac"; }
  std::filesystem::path last_manifests() const { return actions() / "last"; }
  std::filesystem::path layers() const { return root / "layers"; }
  std::filesystem::path tools() const { return root / "tools"; }
  std::filesystem::path nar_hashes() const { return root / "nar-hash"; }
  std::filesystem::path pushed() const { return root / "pushed"; }
  std::filesystem::path remote_actions() const { return root / "remote-actions"; }
  std::filesystem::path stat_cache() const { return root / "stat-cache"; }
  std::filesystem::path locks() const { return root / "locks"; }
  std::filesystem::path gc_lock() const { return root / "gc.lock"; }
  std::filesystem::path tmp() const { return root / "tmp"; }
};

} // namespace akbuild::cas
