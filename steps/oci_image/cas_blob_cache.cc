#include "steps/oci_image/cas_blob_cache.hh"

#include <sys/stat.h>

namespace akbuild::steps {

namespace fs = std::filesystem;

namespace {

Result<cas::Digest> cas_digest(std::string_view digest) {
  if (!digest.starts_with("sha256:"))
    return fail(ErrorCode::invalid_argument, "blob " + std::string(digest) + ": not a sha256 digest");
  return cas::Digest::parse(digest.substr(7));
}

} // namespace

Result<std::optional<fs::path>> CasBlobCache::find(const std::string& digest) {
  auto d = AK_TRY(cas_digest(digest));
  fs::path local = m_cache.blobs().local_path(d);
  struct stat st {};
  if (local.empty() || ::stat(local.c_str(), &st) != 0) return std::nullopt;
  if (auto checked = m_cache.blobs().check(d, static_cast<std::uint64_t>(st.st_size)); !checked) {
    if (checked.error().code == ErrorCode::corrupt || checked.error().code == ErrorCode::not_found) return std::nullopt;
    return fail(checked.error());
  }
  return std::optional<fs::path>(local);
}

Result<> CasBlobCache::keep(const std::string& digest, const fs::path& path) {
  if (m_cache.read_only()) return ok();
  return m_cache.blobs().adopt_file(path, AK_TRY(cas_digest(digest)));
}

} // namespace akbuild::steps
