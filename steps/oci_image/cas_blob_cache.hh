#pragma once
// The cache dir's BlobCache (oci/pull.hh): manifests, configs and layers pulled from a registry
// are plain CAS blobs (content-addressed by the same sha256 the registry names them by), so the
// one cache dir owns, verifies and trims them, and an image output that holds a base layer
// shares its blob.

#include "oci/pull.hh"
#include "runner/cas/cache_dir.hh"

namespace akbuild::steps {

class CasBlobCache final : public oci::BlobCache {
public:
  explicit CasBlobCache(cas::CacheDir& cache) : m_cache(cache) {}

  // A blob that fails its check is removed by the store and counts as absent.
  Result<std::optional<std::filesystem::path>> find(const std::string& digest) override;
  // Nothing is kept in a read-only cache dir.
  Result<> keep(const std::string& digest, const std::filesystem::path& path) override;

private:
  cas::CacheDir& m_cache;
};

} // namespace akbuild::steps
