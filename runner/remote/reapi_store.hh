#pragma once
// The REAPI v2 cache a server keeps over a cache dir (what `akbuild serve` answers with): the
// CAS is the cache dir's own blob store (the same SHA-256 blobs), the action cache a separate
// area of serialized ActionResult messages, <root>/reapi-ac/<2 hex>/<hex of the Action digest>.
// An entry is served only while every blob it names (outputs, the files of its output Trees,
// logs) is present; one that outlived a blob is dropped. Uploads are verified against their
// digests before they are stored.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "runner/cas/cache_dir.hh"
#include "runner/remote/remote_cache.hh"

namespace akbuild::remote {

class ReapiStore {
public:
  // The batch limit advertised (CacheCapabilities.max_batch_total_size_bytes): gRPC's default
  // message size, which every client can send.
  static constexpr std::uint64_t k_max_batch_bytes = 4u << 20;

  explicit ReapiStore(cas::CacheDir& cache) : m_cache(cache) {}

  // The serialized ActionResult stored for `action`; nullopt when there is none or when a blob
  // it names is gone (the entry is then removed).
  Result<std::optional<std::string>> get_action_result(const BlobRef& action);
  // Stores `result` for `action`: invalid_argument when it does not parse, failed_precondition
  // naming a blob it names that is not in the CAS.
  Result<> put_action_result(const BlobRef& action, const std::string& result);
  Result<std::vector<BlobRef>> find_missing(const std::vector<BlobRef>& blobs);
  // The blob's bytes, verified; not_found when absent.
  Result<std::string> read(const BlobRef& blob);
  // Stores `bytes` as `blob`: invalid_argument when they are not what its digest and size say.
  Result<> write(const BlobRef& blob, std::string_view bytes);
  // Stores the complete file `name` under `dirfd` as `blob` (moved in when it may be):
  // invalid_argument when its content is not what the digest says.
  Result<> write_file(const BlobRef& blob, int dirfd, const std::string& name);
  cas::CacheDir& cache() { return m_cache; }

private:
  std::filesystem::path entry_path(const BlobRef& action) const;
  // Every blob `result` names, reading its Trees; nullopt when one is missing.
  Result<std::optional<std::vector<BlobRef>>> named_blobs(const std::string& result);

  cas::CacheDir& m_cache;
};

} // namespace akbuild::remote
