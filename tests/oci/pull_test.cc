// pull_image against a BlobCache that already holds the documents and blobs: the platform choice
// in an index and the checks, with no registry (nothing listens at the reference's port, so any
// request would fail the pull).
#include <doctest/doctest.h>

#include <map>

#include <nlohmann/json.hpp>

#include "oci/layer.hh"
#include "oci/layout.hh"
#include "oci/pull.hh"
#include "runner/core/encoding.hh"
#include "runner/core/hash.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
using namespace akbuild::oci;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Blobs as files in a directory, by digest.
class DirCache final : public BlobCache {
public:
  explicit DirCache(fs::path dir) : m_dir(std::move(dir)) { fs::create_directories(m_dir); }
  Result<std::optional<fs::path>> find(const std::string& digest) override {
    fs::path p = m_dir / digest.substr(7);
    if (!fs::exists(p)) return std::optional<fs::path>{};
    return std::optional<fs::path>(p);
  }
  Result<> keep(const std::string& digest, const fs::path& path) override {
    kept.push_back(digest);
    fs::copy_file(path, m_dir / digest.substr(7), fs::copy_options::overwrite_existing);
    return {};
  }
  std::string add(const std::string& bytes) {
    std::string digest = "sha256:" + to_hex(sha256(bytes));
    test::write(m_dir / digest.substr(7), bytes);
    return digest;
  }
  std::vector<std::string> kept;

private:
  fs::path m_dir;
};

json descriptor(const std::string& media_type, const std::string& digest, std::size_t size) {
  return json{{"mediaType", media_type}, {"digest", digest}, {"size", size}};
}

// An index of an amd64 image (config and one layer, all in the cache) and an arm64 entry.
struct Fixture {
  test::TestDir dir;
  DirCache cache{dir / "cache"};
  std::string layer = "layer bytes", config = R"({"architecture":"amd64","os":"linux"})";
  std::string manifest, index_digest, manifest_digest;
  Fixture() {
    manifest = json{{"schemaVersion", 2},
                    {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                    {"config", descriptor("application/vnd.oci.image.config.v1+json", cache.add(config), config.size())},
                    {"layers", json::array({descriptor("application/vnd.oci.image.layer.v1.tar+gzip", cache.add(layer),
                                                       layer.size())})}}
                   .dump();
    manifest_digest = cache.add(manifest);
    auto entry = [&](const std::string& arch, const std::string& digest) {
      auto d = descriptor("application/vnd.oci.image.manifest.v1+json", digest, manifest.size());
      d["platform"] = {{"os", "linux"}, {"architecture", arch}};
      return d;
    };
    json index{{"schemaVersion", 2},
               {"mediaType", "application/vnd.oci.image.index.v1+json"},
               {"manifests", json::array({entry("arm64", "sha256:" + std::string(64, 'b')), entry("amd64", manifest_digest)})}};
    index_digest = cache.add(index.dump());
  }
  Reference ref(const std::string& digest) { return *Reference::parse("127.0.0.1:1/base@" + digest); }
};

} // namespace

TEST_CASE("pull_image takes the platform's manifest from an index, all from the cache") {
  Fixture f;
  auto pulled = pull_image(f.ref(f.index_digest), {"linux", "amd64"}, f.dir / "layout", f.cache);
  REQUIRE_MESSAGE(pulled, (pulled ? "" : pulled.error().message));
  CHECK(pulled->digest == f.index_digest);
  CHECK(pulled->manifest_digest == f.manifest_digest);
  CHECK(pulled->fetched == 0);
  CHECK(pulled->cached == 4);
  auto image = read_layout_image(f.dir / "layout", "");
  REQUIRE_MESSAGE(image, (image ? "" : image.error().message));
  CHECK(image->manifest.digest == f.manifest_digest);
  REQUIRE(image->layers.size() == 1);
  CHECK(verify_blob(blob_path(f.dir / "layout" / "blobs", image->layers[0].digest), image->layers[0]));
}

TEST_CASE("pull_image names the platforms an index has when it lacks the one asked for, and writes no layout") {
  Fixture f;
  auto pulled = pull_image(f.ref(f.index_digest), {"linux", "s390x"}, f.dir / "layout", f.cache);
  REQUIRE(!pulled);
  CHECK(pulled.error().code == ErrorCode::not_found);
  CHECK(pulled.error().message ==
        "the index 127.0.0.1:1/base@" + f.index_digest + " has no manifest for linux/s390x (it has linux/arm64, linux/amd64)");
  CHECK(!fs::exists(f.dir / "layout"));
  CHECK(std::distance(fs::directory_iterator(f.dir.path()), fs::directory_iterator()) == 1);  // the cache only
}

TEST_CASE("pull_image does not use a cached document whose bytes do not match its digest") {
  Fixture f;
  // The manifest's file now holds other bytes: the pull must ask the registry (which is not there).
  test::write(f.dir / "cache" / f.manifest_digest.substr(7), f.manifest + " ");
  PushOptions quick;
  quick.max_attempts = 1;
  quick.connect_timeout = std::chrono::seconds(2);
  auto pulled = pull_image(f.ref(f.manifest_digest), {"linux", "amd64"}, f.dir / "layout", f.cache, quick);
  REQUIRE(!pulled);
  CHECK_MESSAGE(pulled.error().message.find("127.0.0.1:1") != std::string::npos, pulled.error().message);
  CHECK(!fs::exists(f.dir / "layout"));
  CHECK(std::distance(fs::directory_iterator(f.dir.path()), fs::directory_iterator()) == 1);  // the cache only
}
