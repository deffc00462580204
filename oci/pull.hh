#pragma once
// Pulling a base image from a registry into a local OCI layout (distribution-spec v1.0 "pull",
// image-spec v1.0 index.md and manifest.md; Docker's manifest list and v2 manifest too):
//   manifest or index by digest (or tag) -> the manifest of the platform -> config and layers.
// Every manifest and blob is checked against its digest before it is used or kept; blobs the
// cache has are not fetched, so an image pulled once builds offline by its digest. The layout is
// written in a temp sibling and renamed into place: a fault leaves none.
//
// Usage: auto pulled = AK_TRY(pull_image(ref, {"linux", "amd64"}, "tmp/base", cache, {}));
//        spec.base = "tmp/base";

#include <filesystem>
#include <optional>
#include <string>

#include "oci/reference.hh"
#include "oci/registry.hh"
#include "runner/core/result.hh"

namespace akbuild::oci {

// Where pulled manifests and blobs are kept between runs. oci knows only this interface; the
// cache dir keeps them in its CAS (steps/oci_image/cas_blob_cache.hh).
class BlobCache {
public:
  virtual ~BlobCache() = default;
  // The path of the intact blob `digest`; nullopt when it is not kept.
  virtual Result<std::optional<std::filesystem::path>> find(const std::string& digest) = 0;
  // Keeps the complete, verified file at `path`, whose sha256 is `digest`.
  virtual Result<> keep(const std::string& digest, const std::filesystem::path& path) = 0;
};

struct Platform {
  std::string os, architecture;  // "linux", "amd64"
  std::string to_string() const { return os + "/" + architecture; }
};

struct PulledImage {
  std::string digest;           // what the reference named: its digest, else its tag's target
  std::string manifest_digest;  // the platform's image manifest (== digest unless an index)
  std::size_t fetched = 0, cached = 0;  // documents and blobs from the registry, from the cache
};

// Pulls `ref` (by its digest when it has one, else by its tag) for `platform` into a new OCI
// layout at `layout` holding one manifest. not_found when an index has no manifest for the
// platform (naming those it has); corrupt naming the digest of a manifest or blob that does not
// match it; the registry's faults as RegistryClient reports them.
Result<PulledImage> pull_image(const Reference& ref, const Platform& platform, const std::filesystem::path& layout,
                               BlobCache& cache, const PushOptions& options = {});

} // namespace akbuild::oci
