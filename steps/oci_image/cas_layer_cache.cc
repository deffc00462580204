#include "steps/oci_image/cas_layer_cache.hh"

#include <sys/stat.h>

namespace akbuild::steps {

namespace fs = std::filesystem;

namespace {

Result<cas::Digest> layer_key(std::string_view key) {
  return cas::Digest::parse(key).map_error([](Error e) { return std::move(e).context("layer key"); });
}

} // namespace

Result<std::optional<oci::LayerBlob>> CasLayerCache::fetch(std::string_view key, const fs::path& blobs_dir) {
  auto record = m_cache.layers().get(AK_TRY(layer_key(key)));
  if (!record) {
    // An invalid record was removed: the layer is built again.
    if (record.error().code == ErrorCode::corrupt) return std::nullopt;
    return fail(record.error());
  }
  if (!*record) return std::nullopt;
  const auto& r = **record;
  fs::path local = m_cache.blobs().local_path(r.blob);
  struct stat st {};
  if (local.empty() || ::stat(local.c_str(), &st) != 0 || static_cast<std::uint64_t>(st.st_size) != r.size)
    return std::nullopt;
  oci::LayerBlob blob{"sha256:" + r.blob.hex(), r.diff_id, r.size, r.media_type, true};
  AK_TRY_VOID(oci::link_or_copy(local, oci::blob_path(blobs_dir, blob.digest)));
  return blob;
}

Result<> CasLayerCache::keep(std::string_view key, const oci::LayerBlob& blob, const fs::path& path) {
  if (m_cache.read_only()) return ok();
  auto k = AK_TRY(layer_key(key));
  if (!blob.digest.starts_with("sha256:"))
    return fail(ErrorCode::internal, "layer " + blob.digest + ": not a sha256 digest");
  auto digest = AK_TRY(cas::Digest::parse(std::string_view(blob.digest).substr(7)));
  AK_TRY_VOID(m_cache.blobs().adopt_file(path, digest));
  return m_cache.layers().put(k, cas::LayerRecord{digest, blob.size, blob.diff_id, blob.media_type});
}

} // namespace akbuild::steps
