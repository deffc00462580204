#include "oci/pull.hh"

#include <nlohmann/json.hpp>

#include "oci/layer.hh"
#include "oci/layout.hh"
#include "runner/core/encoding.hh"
#include "runner/core/fs.hh"
#include "runner/core/hash.hh"

namespace akbuild::oci {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr std::string_view k_oci_manifest = "application/vnd.oci.image.manifest.v1+json";

// One pull: the temp layout it fills, the cache, and a registry client made on first use (a
// pull the cache serves whole makes no connection).
class Puller {
public:
  Puller(const Reference& ref, const PushOptions& options, BlobCache& cache, fs::path blobs)
      : m_ref(ref), m_options(options), m_cache(cache), m_blobs(std::move(blobs)) {}

  // A manifest or index by digest, checked, kept and placed in the layout.
  Result<std::string> document(const std::string& digest) {
    if (!is_sha256_digest(digest)) return fail(ErrorCode::corrupt, where() + ": '" + digest + "' is not a sha256 digest");
    if (auto kept = AK_TRY(m_cache.find(digest))) {
      auto bytes = AK_TRY(read_file(*kept));
      if ("sha256:" + to_hex(sha256(bytes)) == digest) {
        ++pulled.cached;
        AK_TRY_VOID(place(digest, bytes));
        return bytes;
      }
    }
    auto m = AK_TRY(client().get_manifest(digest));
    ++pulled.fetched;
    AK_TRY_VOID(keep(digest, m.bytes));
    return std::move(m.bytes);
  }

  // The manifest or index the reference's tag names now.
  Result<RegistryClient::Manifest> by_tag() {
    auto m = AK_TRY(client().get_manifest(m_ref.tag));
    ++pulled.fetched;
    AK_TRY_VOID(keep(m.digest, m.bytes));
    return m;
  }

  // A config or layer blob: linked from the cache, else fetched, checked and kept.
  Result<> blob(const Descriptor& d) {
    if (!is_sha256_digest(d.digest)) return fail(ErrorCode::corrupt, where() + ": '" + d.digest + "' is not a sha256 digest");
    if (auto kept = AK_TRY(m_cache.find(d.digest))) {
      std::error_code ec;
      if (fs::file_size(*kept, ec) == d.size && !ec) {
        ++pulled.cached;
        return link_or_copy(*kept, blob_path(m_blobs, d.digest));
      }
    }
    auto bytes = AK_TRY(client().get_blob(d.digest, d.size));
    ++pulled.fetched;
    return keep(d.digest, bytes);
  }

  std::string where() const { return m_ref.registry + "/" + m_ref.repository; }
  PulledImage pulled;

private:
  RegistryClient& client() {
    if (!m_client) m_client.emplace(m_ref, m_options);
    return *m_client;
  }
  Result<> place(const std::string& digest, std::string_view bytes) {
    fs::path path = blob_path(m_blobs, digest);
    if (fs::exists(path)) return ok();
    return write_file_atomic(path, bytes, 0444);
  }
  Result<> keep(const std::string& digest, std::string_view bytes) {
    AK_TRY_VOID(place(digest, bytes));
    return m_cache.keep(digest, blob_path(m_blobs, digest));
  }

  const Reference& m_ref;
  const PushOptions& m_options;
  BlobCache& m_cache;
  fs::path m_blobs;
  std::optional<RegistryClient> m_client;
};

Result<json> parse_document(const std::string& bytes, const std::string& what) {
  auto j = json::parse(bytes, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail(ErrorCode::corrupt, what + ": not a JSON object");
  return j;
}

Result<Descriptor> descriptor(const json& j, const std::string& what) {
  if (!j.is_object() || !j.contains("digest") || !j["digest"].is_string() || !j.contains("size") ||
      !j["size"].is_number_unsigned())
    return fail(ErrorCode::corrupt, what + ": a descriptor without digest and size");
  return Descriptor{j.value("mediaType", std::string()), j["digest"].get<std::string>(), j["size"].get<std::uint64_t>()};
}

// The entry of an index for `platform`; not_found naming the platforms it has.
Result<Descriptor> choose(const json& index, const Platform& platform, const std::string& what) {
  std::string has;
  for (const auto& m : index["manifests"]) {
    if (!m.is_object() || !m.contains("platform") || !m["platform"].is_object()) continue;
    std::string os = m["platform"].value("os", ""), arch = m["platform"].value("architecture", "");
    if (os == platform.os && arch == platform.architecture) return descriptor(m, what);
    if (os != "unknown") has += (has.empty() ? "" : ", ") + os + "/" + arch;
  }
  return fail(ErrorCode::not_found, what + " has no manifest for " + platform.to_string() + " (it has " +
                                        (has.empty() ? std::string("none with a platform") : has) + ")");
}

} // namespace

Result<PulledImage> pull_image(const Reference& ref, const Platform& platform, const fs::path& layout, BlobCache& cache,
                               const PushOptions& options) {
  fs::path target = fs::absolute(layout).lexically_normal();
  if (target.filename().empty()) target = target.parent_path();
  AK_TRY_VOID(make_dirs(target.parent_path()));
  auto tmp = AK_TRY(TempDir::create("." + target.filename().string() + ".tmp-", target.parent_path()));
  AK_TRY_VOID(make_dirs(tmp.path() / "blobs" / "sha256"));
  Puller puller(ref, options, cache, tmp.path() / "blobs");

  std::string digest = ref.digest, bytes;
  if (digest.empty()) {
    auto m = AK_TRY(puller.by_tag());
    digest = m.digest;
    bytes = std::move(m.bytes);
  } else {
    bytes = AK_TRY(puller.document(digest));
  }
  std::string what = puller.where() + "@" + digest;
  auto root = AK_TRY(parse_document(bytes, what));
  Descriptor manifest{root.value("mediaType", std::string(k_oci_manifest)), digest, bytes.size()};
  if (root.contains("manifests") && root["manifests"].is_array()) {
    manifest = AK_TRY(choose(root, platform, "the index " + what));
    what = puller.where() + "@" + manifest.digest;
    bytes = AK_TRY(puller.document(manifest.digest));
    if (bytes.size() != manifest.size) return fail(ErrorCode::corrupt, what + ": size differs from the index's");
    root = AK_TRY(parse_document(bytes, what));
  }
  if (!root.contains("config") || !root.contains("layers") || !root["layers"].is_array())
    return fail(ErrorCode::invalid_argument,
                what + ": not an image manifest (schema 2 with config and layers; Docker schema 1 is not supported)");
  if (manifest.media_type.empty()) manifest.media_type = root.value("mediaType", std::string(k_oci_manifest));
  AK_TRY_VOID(puller.blob(AK_TRY(descriptor(root["config"], what + ": config"))));
  for (const auto& l : root["layers"]) AK_TRY_VOID(puller.blob(AK_TRY(descriptor(l, what + ": layer"))));

  json index{{"schemaVersion", 2},
             {"manifests", json::array({json{{"mediaType", manifest.media_type},
                                             {"digest", manifest.digest},
                                             {"size", manifest.size}}})}};
  AK_TRY_VOID(write_file_atomic(tmp.path() / "index.json", index.dump()));
  AK_TRY_VOID(write_file_atomic(tmp.path() / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})"));
  std::error_code ec;
  if (fs::exists(fs::symlink_status(target, ec))) AK_TRY_VOID(remove_tree(target));
  if (::rename(tmp.path().c_str(), target.c_str()) != 0) return fail(errno_error(target.string() + ": rename"));
  tmp.keep();
  puller.pulled.digest = digest;
  puller.pulled.manifest_digest = manifest.digest;
  return puller.pulled;
}

} // namespace akbuild::oci
