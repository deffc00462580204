#pragma once
// Where built layers are kept between runs, so an unchanged source is never tarred or compressed
// again and keeps its digest. oci knows only this interface; the cache dir provides one that
// keeps the blobs in its CAS under small layer records (steps/oci_image/cas_layer_cache.hh),
// so the one cache dir owns, verifies and trims them.
//
// Usage: make_layer(spec, blobs_dir, &cache) asks fetch(key, blobs_dir) first; on a miss it builds
// the blob in `blobs_dir` and hands it to keep(key, blob, path).

#include <filesystem>
#include <optional>
#include <string_view>

#include "runner/core/result.hh"

namespace akbuild::oci {

struct LayerBlob;

class LayerCache {
public:
  virtual ~LayerCache() = default;
  // The layer kept under `key` (layer_cache_key), its blob linked or copied into the OCI blobs
  // dir `blobs_dir` (as blobs_dir/sha256/<hex>); nullopt on a miss (nothing written).
  virtual Result<std::optional<LayerBlob>> fetch(std::string_view key, const std::filesystem::path& blobs_dir) = 0;
  // Keeps the complete, synced blob at `path` (described by `blob`) under `key`.
  virtual Result<> keep(std::string_view key, const LayerBlob& blob, const std::filesystem::path& path) = 0;
};

} // namespace akbuild::oci
