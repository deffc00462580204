#pragma once
// Layer records: an image layer built once is kept as a blob in the CAS like any other content,
// and a small sealed record (runner/cas/sealed_record.hh) under <cache>/layers/<2 hex>/<key hex>
// maps the layer's key (a digest of what it was built from and how) to that blob. gc trims
// layer records by last use like action results, and their blobs with them.
//
// Payload: "blob <hex>\nsize <bytes>\ndiff_id <sha256:hex>\nmedia_type <type>\n".

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "runner/cas/blob_store.hh"
#include "runner/cas/digest.hh"

namespace akbuild::cas {

struct LayerRecord {
  Digest blob;             // the compressed layer, in the CAS
  std::uint64_t size = 0;  // its bytes
  std::string diff_id;     // "sha256:<hex>" of the uncompressed tar
  std::string media_type;
};

class LayerRecords {
public:
  LayerRecords(std::filesystem::path dir, BlobStore& blobs) : m_dir(std::move(dir)), m_blobs(blobs) {}

  // The record for `key` whose blob is present, nullopt on a miss. An invalid record is removed
  // and reported as ErrorCode::corrupt. A hit refreshes the record's mtime (gc's access time).
  Result<std::optional<LayerRecord>> get(const Digest& key);
  // The record as stored (seal and fields checked), without counting as a use; not_found or
  // corrupt otherwise.
  Result<LayerRecord> read(const Digest& key) const;
  // Writes the record atomically; failed_precondition if its blob is not in the CAS.
  Result<> put(const Digest& key, const LayerRecord& record);
  Result<> remove(const Digest& key);

  // <dir>/<2 hex>/<key hex>.
  std::filesystem::path record_path(const Digest& key) const;

private:
  std::filesystem::path m_dir;
  BlobStore& m_blobs;
};

} // namespace akbuild::cas
