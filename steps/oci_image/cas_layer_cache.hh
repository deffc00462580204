#pragma once
// The cache dir's LayerCache (oci/layer_cache.hh): a layer blob is kept in the CAS like any other
// content (so the image output that holds it shares the blob), under a layer record that maps the
// layer key to it (runner/cas/layer_records.hh). gc, stats and verify see both.

#include "oci/layer.hh"
#include "oci/layer_cache.hh"
#include "runner/cas/cache_dir.hh"

namespace akbuild::steps {

class CasLayerCache final : public oci::LayerCache {
public:
  explicit CasLayerCache(cas::CacheDir& cache) : m_cache(cache) {}

  Result<std::optional<oci::LayerBlob>> fetch(std::string_view key, const std::filesystem::path& blobs_dir) override;
  // Nothing is kept in a read-only cache dir.
  Result<> keep(std::string_view key, const oci::LayerBlob& blob, const std::filesystem::path& path) override;

private:
  cas::CacheDir& m_cache;
};

} // namespace akbuild::steps
