#pragma once
// One image layer: a source tree tarred (oci/tar_writer.hh), compressed (oci/compress.hh) and
// written as a content-addressed blob, with its diff_id (sha256 of the tar) and digest (sha256
// of the compressed bytes). Layers are cached by (source fingerprint, layer options) in a
// LayerCache (oci/layer_cache.hh), so an unchanged source is never tarred or compressed again and
// keeps its digest.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "oci/compress.hh"
#include "oci/layer_cache.hh"
#include "oci/tar_writer.hh"
#include "runner/core/result.hh"

namespace akbuild::oci {

struct LayerSpec {
  std::filesystem::path source;
  // An open directory to read instead of `source`'s path, which then only names it (in errors
  // and, as for a path, in the cache key). Not owned. Without a fingerprint, the cache key reads
  // its content (no stat fingerprint of a path).
  int source_dir = -1;
  TarOptions tar;
  Compression compression = Compression::gzip;
  // Identifies the source's content (e.g. the step output's tree digest). Empty: a fingerprint
  // of every entry's path, type, mode, size, mtime, ctime and hardlink group is taken instead.
  std::string fingerprint;
  // With no fingerprint: hash file content instead of stat data (slower; for sources that are
  // recreated on every run, such as staged step inputs).
  bool content_fingerprint = false;
  // Asked after the source was read (when set): whether it still is what `fingerprint` names. A
  // layer read from a source that changed meanwhile is used, but not kept in the layer cache.
  std::function<bool()> source_unchanged;
};

struct LayerBlob {
  std::string digest;      // "sha256:<hex>" of the compressed blob
  std::string diff_id;     // "sha256:<hex>" of the uncompressed tar
  std::uint64_t size = 0;  // compressed size
  std::string media_type;
  bool cached = false;     // taken from the layer cache without tarring
};

// The blob path of a digest ("sha256:<hex>") under an OCI layout's `blobs/` dir.
std::filesystem::path blob_path(const std::filesystem::path& blobs_dir, std::string_view digest);

// Builds the layer into `blobs_dir/sha256/<hex>`. With a `cache`, a cached blob is linked (or
// copied) instead, and a new one is kept in the cache. `threads` 0 = all.
Result<LayerBlob> make_layer(const LayerSpec& spec, const std::filesystem::path& blobs_dir,
                             LayerCache* cache = nullptr, unsigned threads = 0);

// The cache key of a layer: sha256 hex over the fingerprint and every option that shapes the blob.
Result<std::string> layer_cache_key(const LayerSpec& spec);

// Links `from` to `to` (same file system), else copies it; an existing `to` is kept.
Result<> link_or_copy(const std::filesystem::path& from, const std::filesystem::path& to);

} // namespace akbuild::oci
