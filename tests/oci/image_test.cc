// Image layouts checked with the real tools: skopeo (copy verifies digests, inspect shows the
// config) and umoci (unpack verifies layers and reproduces files).

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "oci/image.hh"
#include "oci/layer.hh"
#include "oci/layout.hh"
#include "runner/core/encoding.hh"
#include "runner/core/fs.hh"
#include "runner/core/hash.hh"
#include "runner/cas/cache_dir.hh"
#include "steps/oci_image/cas_layer_cache.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
using namespace akbuild::oci;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

LayerSpec layer_at(const fs::path& source, const std::string& destination) {
  LayerSpec l;
  l.source = source;
  l.tar.destination = destination;
  return l;
}


// A source tree with every kind of entry the layer writer must keep.
void make_rootfs(const fs::path& root) {
  test::write(root / "etc" / "app.conf", "port = 8080\n");
  test::write(root / "bin" / "start", "#!/bin/sh\necho hi\n", true);
  test::write(root / "data" / "seed", "seed");
  fs::create_symlink("../bin/start", root / "etc" / "start-link");
  fs::create_hard_link(root / "data" / "seed", root / "data" / "seed-copy");
  ::chmod((root / "data").c_str(), 0700);
}

ImageSpec demo_spec(const test::TestDir& dir) {
  make_rootfs(dir / "rootfs");
  test::write(dir / "server", "\x7f" "ELF server", true);
  ImageSpec spec;
  LayerSpec a;
  a.source = dir / "rootfs";
  a.tar.destination = "/app";
  a.tar.perms.push_back({*Glob::parse("app/data/**"), std::nullopt, 1000, 1000});
  LayerSpec b;
  b.source = dir / "server";
  b.tar.destination = "/usr/bin";
  spec.layers = {a, b};
  spec.config.entrypoint = std::vector<std::string>{"/usr/bin/server"};
  spec.config.cmd = std::vector<std::string>{"--serve"};
  spec.config.env = {"PATH=/usr/bin:/bin", "MODE=prod"};
  spec.config.workdir = "/app";
  spec.config.user = "65534";
  spec.config.ports = {"8080", "53/udp"};
  spec.config.volumes = {"/data"};
  spec.config.labels = {{"org.opencontainers.image.version", "1.2.3"},
                        {"org.opencontainers.image.revision", "abc123"}};
  spec.config.stop_signal = "SIGINT";
  spec.tag = "demo:1";
  return spec;
}

ImageResult build(const ImageSpec& spec, const fs::path& layout, const BuildOptions& options = {}) {
  auto r = write_image_layout(spec, layout, options);
  REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  return *r;
}

std::string stat_line(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return std::to_string(st.st_mode & 07777) + " " + std::to_string(st.st_uid) + ":" + std::to_string(st.st_gid);
}

} // namespace

TEST_CASE("an image layout passes skopeo's digest checks and shows the intended config") {
  if (!test::have_program("skopeo")) {
    return test::skip("skopeo is not installed");
  }
  test::TestDir dir;
  auto result = build(demo_spec(dir), dir / "out" / "image");
  CHECK(result.layers.size() == 2);
  auto copy = test::run({"skopeo", "copy", "oci:" + (dir / "out/image").string() + ":demo:1",
                         "dir:" + (dir / "copy").string()});
  CHECK_MESSAGE(copy.exit_code == 0, copy.err);
  CHECK(fs::exists(dir / "copy" / result.layers[0].digest.substr(7)));
  CHECK(fs::exists(dir / "copy" / result.config_digest.substr(7)));

  auto inspect = test::run({"skopeo", "inspect", "--config", "oci:" + (dir / "out/image").string() + ":demo:1"});
  REQUIRE_MESSAGE(inspect.exit_code == 0, inspect.err);
  auto config = json::parse(inspect.out);
  CHECK(config["config"]["Entrypoint"] == json::array({"/usr/bin/server"}));
  CHECK(config["config"]["Cmd"] == json::array({"--serve"}));
  CHECK(config["config"]["Env"] == json::array({"PATH=/usr/bin:/bin", "MODE=prod"}));
  CHECK(config["config"]["User"] == "65534");
  CHECK(config["config"]["WorkingDir"] == "/app");
  CHECK(config["config"]["StopSignal"] == "SIGINT");
  CHECK(config["config"]["ExposedPorts"] == json{{"53/udp", json::object()}, {"8080/tcp", json::object()}});
  CHECK(config["config"]["Volumes"] == json{{"/data", json::object()}});
  CHECK(config["config"]["Labels"]["org.opencontainers.image.version"] == "1.2.3");
  CHECK(config["config"]["Labels"]["org.opencontainers.image.revision"] == "abc123");
  CHECK(config["config"]["Labels"]["org.opencontainers.image.created"] == "1970-01-01T00:00:01Z");
  CHECK(config["created"] == "1970-01-01T00:00:01Z");
  CHECK(config["os"] == "linux");
  CHECK(config["rootfs"]["diff_ids"].size() == 2);
  CHECK(config["rootfs"]["diff_ids"][0] == result.layers[0].diff_id);
  // Canonical JSON: the stored config has sorted keys and no spaces.
  auto stored = test::read(blob_path(dir / "out/image/blobs", result.config_digest));
  CHECK(stored == json::parse(stored).dump());
}

TEST_CASE("umoci unpacks exactly the files, modes, links and owners of the inputs") {
  if (!test::have_program("umoci")) {
    return test::skip("umoci is not installed");
  }
  test::TestDir dir;
  build(demo_spec(dir), dir / "image");
  auto r = test::run({"umoci", "unpack", "--image", (dir / "image").string() + ":demo:1", (dir / "bundle").string()});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  fs::path root = dir / "bundle" / "rootfs";
  CHECK(test::read(root / "app/etc/app.conf") == "port = 8080\n");
  CHECK(test::read(root / "usr/bin/server") == "\x7f" "ELF server");
  CHECK(stat_line(root / "app/bin/start") == std::to_string(0755) + " 0:0");
  CHECK(stat_line(root / "app/etc/app.conf") == std::to_string(0644) + " 0:0");
  CHECK(stat_line(root / "app/data") == std::to_string(0700) + " 1000:1000");
  CHECK(stat_line(root / "app/data/seed") == std::to_string(0644) + " 1000:1000");
  CHECK(stat_line(root / "usr") == std::to_string(0755) + " 0:0");
  CHECK(fs::read_symlink(root / "app/etc/start-link") == "../bin/start");
  struct stat a {}, b {};
  REQUIRE(::stat((root / "app/data/seed").c_str(), &a) == 0);
  REQUIRE(::stat((root / "app/data/seed-copy").c_str(), &b) == 0);
  CHECK(a.st_ino == b.st_ino);
  // Nothing else: app, usr and their content only.
  std::vector<std::string> top;
  for (const auto& e : fs::directory_iterator(root)) top.push_back(e.path().filename().string());
  std::sort(top.begin(), top.end());
  CHECK(top == std::vector<std::string>{"app", "usr"});
}

TEST_CASE("the same inputs give the same digests, with or without the layer cache") {
  test::TestDir dir;
  auto spec = demo_spec(dir);
  auto cache = cas::CacheDir::open(dir / "cache");
  auto empty_cache = cas::CacheDir::open(dir / "empty-cache");
  REQUIRE(cache);
  REQUIRE(empty_cache);
  steps::CasLayerCache layers(**cache), no_layers(**empty_cache);
  BuildOptions cached{&layers, 0};
  auto first = build(spec, dir / "one", cached);
  auto second = build(spec, dir / "two", cached);
  auto uncached = build(spec, dir / "three", BuildOptions{&no_layers, 1});
  CHECK(first.cached_layers == 0);
  CHECK(second.cached_layers == 2);
  CHECK(uncached.cached_layers == 0);
  CHECK(first.manifest_digest == second.manifest_digest);
  CHECK(first.manifest_digest == uncached.manifest_digest);
  CHECK(test::read(dir / "one/index.json") == test::read(dir / "three/index.json"));

  SUBCASE("zstd layers are reproducible too and carry the zstd media type") {
    for (auto& l : spec.layers) l.compression = Compression::zstd;
    auto z1 = build(spec, dir / "z1", BuildOptions{nullptr, 1});
    auto z2 = build(spec, dir / "z2", BuildOptions{nullptr, 2});
    CHECK(z1.manifest_digest == z2.manifest_digest);
    CHECK(z1.layers[0].media_type == "application/vnd.oci.image.layer.v1.tar+zstd");
    CHECK(z1.layers[0].diff_id == first.layers[0].diff_id);
    if (test::have_program("skopeo")) {
      auto copy = test::run({"skopeo", "copy", "oci:" + (dir / "z1").string() + ":demo:1", "dir:" + (dir / "zc").string()});
      CHECK_MESSAGE(copy.exit_code == 0, copy.err);
    }
  }

  SUBCASE("a source read from an open directory gives the same layer as its path") {
    UniqueFd fd(::open((dir / "rootfs").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(fd);
    auto by_fd = spec;
    by_fd.layers[0].source_dir = fd.get();
    auto read = build(by_fd, dir / "by-fd", BuildOptions{&no_layers, 1});
    CHECK(read.manifest_digest == first.manifest_digest);
  }

  SUBCASE("a layer whose source changed while it was read is used but not kept") {
    auto fingerprinted = spec;
    fingerprinted.layers[0].fingerprint = "inputs:abc";
    bool asked = false;
    fingerprinted.layers[0].source_unchanged = [&asked] { asked = true; return false; };
    auto once = build(fingerprinted, dir / "changed-1", cached);
    CHECK(asked);
    CHECK(once.layers[0].digest == first.layers[0].digest);
    auto twice = build(fingerprinted, dir / "changed-2", cached);
    CHECK(twice.cached_layers == 1);  // the second layer only: the first was never kept
    fingerprinted.layers[0].source_unchanged = [] { return true; };
    CHECK(build(fingerprinted, dir / "kept-1", cached).cached_layers == 1);
    CHECK(build(fingerprinted, dir / "kept-2", cached).cached_layers == 2);
  }

  SUBCASE("a directory mode given for the source's directories replaces theirs, and keys the layer") {
    auto fixed = spec;
    fixed.layers[0].tar.directory_mode = 0755;
    auto with_mode = build(fixed, dir / "dir-mode", BuildOptions{&no_layers, 1});
    CHECK(with_mode.layers[0].digest != first.layers[0].digest);  // rootfs/data is 0700
    CHECK(*layer_cache_key(fixed.layers[0]) != *layer_cache_key(spec.layers[0]));
    if (test::have_program("tar")) {
      auto blob = dir / "dir-mode" / "blobs" / "sha256" / with_mode.layers[0].digest.substr(7);
      auto listing = test::run({"tar", "-tvzf", blob.string()});
      auto at = listing.out.find("app/data/\n");
      REQUIRE(at != std::string::npos);
      auto line = listing.out.substr(listing.out.rfind('\n', at) + 1, 10);
      CHECK(line == "drwxr-xr-x");
      CHECK(listing.out.find("drwx------") == std::string::npos);
    }
  }

  SUBCASE("a changed file changes only its layer") {
    test::write(dir / "rootfs" / "etc" / "app.conf", "port = 9090\n");
    auto changed = build(spec, dir / "four", cached);
    CHECK(changed.cached_layers == 1);
    CHECK(changed.layers[0].digest != first.layers[0].digest);
    CHECK(changed.layers[1].digest == first.layers[1].digest);
  }
}

TEST_CASE("a base image's layers are reused as they are and its config is extended") {
  test::TestDir dir;
  auto base_spec = demo_spec(dir);
  base_spec.tag = "base";
  auto base = build(base_spec, dir / "base");
  test::write(dir / "extra" / "README", "extra");
  ImageSpec spec;
  spec.base = dir / "base";
  spec.tag = "derived";
  spec.layers.push_back(layer_at(dir / "extra", "/doc"));
  spec.config.env = {"MODE=dev"};
  auto derived = build(spec, dir / "derived");
  REQUIRE(derived.layers.size() == 3);
  CHECK(derived.layers[0].digest == base.layers[0].digest);
  CHECK(derived.layers[1].digest == base.layers[1].digest);
  auto image = *read_layout_image(dir / "derived", "derived");
  CHECK(image.config_json["config"]["Env"] == json::array({"PATH=/usr/bin:/bin", "MODE=dev"}));
  CHECK(image.config_json["config"]["Entrypoint"] == json::array({"/usr/bin/server"}));
  CHECK(image.config_json["history"].size() == 3);
  if (test::have_program("umoci")) {
    auto r = test::run({"umoci", "unpack", "--image", (dir / "derived").string() + ":derived", (dir / "b").string()});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(test::read(dir / "b/rootfs/doc/README") == "extra");
    CHECK(test::read(dir / "b/rootfs/usr/bin/server") == "\x7f" "ELF server");
  }
}

TEST_CASE("a base in Docker's v2 manifest form gives its layers OCI media types in the image written") {
  test::TestDir dir;
  auto base_spec = demo_spec(dir);
  base_spec.tag = "base";
  build(base_spec, dir / "base");
  // The same blobs under a Docker v2 manifest, as a registry holding a `docker push` serves them.
  auto oci_base = *read_layout_image(dir / "base", "base");
  json manifest = oci_base.manifest_json;
  manifest["mediaType"] = "application/vnd.docker.distribution.manifest.v2+json";
  manifest["config"]["mediaType"] = "application/vnd.docker.container.image.v1+json";
  for (auto& l : manifest["layers"]) l["mediaType"] = "application/vnd.docker.image.rootfs.diff.tar.gzip";
  std::string bytes = manifest.dump();
  std::string digest = "sha256:" + to_hex(sha256(bytes));
  fs::copy(dir / "base", dir / "docker-base", fs::copy_options::recursive);
  test::write(blob_path(dir / "docker-base" / "blobs", digest), bytes);
  test::write(dir / "docker-base" / "index.json",
              json{{"schemaVersion", 2},
                   {"manifests", json::array({json{{"mediaType", manifest["mediaType"]},
                                                   {"digest", digest},
                                                   {"size", bytes.size()}}})}}
                  .dump());
  ImageSpec spec;
  spec.base = dir / "docker-base";
  spec.tag = "derived";
  test::write(dir / "extra" / "README", "extra");
  spec.layers.push_back(layer_at(dir / "extra", "/doc"));
  build(spec, dir / "derived");
  auto image = *read_layout_image(dir / "derived", "derived");
  REQUIRE(image.layers.size() == 3);
  for (const auto& l : image.layers) CHECK(l.media_type == "application/vnd.oci.image.layer.v1.tar+gzip");
  CHECK(image.layers[0].digest == oci_base.layers[0].digest);
  if (test::have_program("skopeo")) {
    auto r = test::run({"skopeo", "inspect", "oci:" + (dir / "derived").string() + ":derived"});
    CHECK_MESSAGE(r.exit_code == 0, r.err);
  }
}

TEST_CASE("a base image whose layer escapes the root is rejected and nothing is written") {
  test::TestDir dir;
  test::write(dir / "evil" / "x", "x");
  ImageSpec base;
  base.tag = "evil";
  base.layers.push_back(layer_at(dir / "evil", "/"));
  auto built = build(base, dir / "base");
  // Rewrite the layer as a tar with a '../' entry, and fix the digests that name it.
  REQUIRE_EQ(test::sh("cd '" + dir.path().string() + "' && mkdir -p t/sub && echo e > t/sub/f && "
                     "tar -C t/sub -cf evil.tar --transform 's,^f$,../../etc/f,' f && gzip -n evil.tar").exit_code, 0);
  auto image = *read_layout_image(dir / "base", "evil");
  std::string blob = test::read(dir / "evil.tar.gz");
  std::string tar_digest = test::sh("gunzip -c '" + (dir / "evil.tar.gz").string() + "' | sha256sum | cut -c1-64").out;
  tar_digest.pop_back();
  std::string blob_digest = "sha256:" + test::sh("sha256sum '" + (dir / "evil.tar.gz").string() + "' | cut -c1-64").out.substr(0, 64);
  fs::path blobs = dir / "base" / "blobs";
  test::write(blob_path(blobs, blob_digest), blob);
  json config = image.config_json;
  config["rootfs"]["diff_ids"][0] = "sha256:" + tar_digest;
  std::string config_bytes = config.dump();
  std::string config_digest = "sha256:" + test::sh("printf %s '" + config_bytes + "' | sha256sum | cut -c1-64").out.substr(0, 64);
  test::write(blob_path(blobs, config_digest), config_bytes);
  json manifest = image.manifest_json;
  manifest["layers"][0]["digest"] = blob_digest;
  manifest["layers"][0]["size"] = blob.size();
  manifest["config"]["digest"] = config_digest;
  manifest["config"]["size"] = config_bytes.size();
  std::string manifest_bytes = manifest.dump();
  std::string manifest_digest = "sha256:" + test::sh("printf %s '" + manifest_bytes + "' | sha256sum | cut -c1-64").out.substr(0, 64);
  test::write(blob_path(blobs, manifest_digest), manifest_bytes);
  json index = json::parse(test::read(dir / "base/index.json"));
  index["manifests"][0]["digest"] = manifest_digest;
  index["manifests"][0]["size"] = manifest_bytes.size();
  fs::remove(dir / "base/index.json");
  test::write(dir / "base/index.json", index.dump());

  ImageSpec spec;
  spec.base = dir / "base";
  spec.tag = "derived";
  auto r = write_image_layout(spec, dir / "out");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::invalid_argument);
  CHECK_MESSAGE(r.error().message.find("'../../etc/f' escapes the image root") != std::string::npos, r.error().message);
  CHECK_FALSE(fs::exists(dir / "out"));
  (void)built;
}

TEST_CASE("bad layer specs are clear errors and leave no layout") {
  test::TestDir dir;
  test::write(dir / "a" / "f", "f");
  test::write(dir / "b" / "g", "g");
  ImageSpec spec;
  spec.tag = "t";
  SUBCASE("a destination with '..'") {
    spec.layers.push_back(layer_at(dir / "a", "/app/../etc"));
  }
  SUBCASE("two layers with the same destination") {
    spec.layers.push_back(layer_at(dir / "a", "/app"));
    spec.layers.push_back(layer_at(dir / "b", "/app/"));
  }
  SUBCASE("an invalid tag") {
    spec.tag = "bad tag";
  }
  SUBCASE("a missing source") {
    spec.layers.push_back(layer_at(dir / "missing", "/x"));
  }
  auto r = write_image_layout(spec, dir / "out");
  REQUIRE_FALSE(r);
  MESSAGE(r.error().message);
  CHECK((r.error().code == ErrorCode::invalid_argument || r.error().code == ErrorCode::not_found));
  CHECK_FALSE(fs::exists(dir / "out"));
  for (const auto& e : fs::directory_iterator(dir.path())) CHECK(e.path().filename().string().find(".out.tmp") == std::string::npos);
}

TEST_CASE("a full disk while writing fails with the cause and leaves no partial layout") {
  if (::geteuid() != 0) {
    return test::skip("needs root for a tmpfs mount");
  }
  test::TestDir dir;
  fs::create_directories(dir / "small");
  if (::mount("tmpfs", (dir / "small").c_str(), "tmpfs", 0, "size=256k") != 0) {
    return test::skip("cannot mount a tmpfs");
  }
  struct Unmount {
    fs::path p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{dir / "small"};
  // 2 MiB of random bytes cannot compress into 256 KiB.
  REQUIRE_EQ(test::sh("mkdir -p '" + (dir / "src").string() + "' && head -c 2097152 /dev/urandom > '" +
                     (dir / "src/blob").string() + "'").exit_code, 0);
  ImageSpec spec;
  spec.tag = "full";
  spec.layers.push_back(layer_at(dir / "src", "/"));
  auto r = write_image_layout(spec, dir / "small" / "image");
  REQUIRE_FALSE(r);
  CHECK_MESSAGE(r.error().message.find("No space left on device") != std::string::npos, r.error().message);
  CHECK(fs::is_empty(dir / "small"));
}

TEST_CASE("a docker archive holds manifest.json with the tag, the config and the layers") {
  if (!test::have_program("skopeo")) {
    return test::skip("skopeo is not installed");
  }
  test::TestDir dir;
  auto result = build(demo_spec(dir), dir / "image");
  auto w = write_docker_archive(dir / "image", "demo:1", dir / "image.tar");
  REQUIRE_MESSAGE(w, (w ? "" : w.error().message));
  auto inspect = test::run({"skopeo", "inspect", "docker-archive:" + (dir / "image.tar").string()});
  REQUIRE_MESSAGE(inspect.exit_code == 0, inspect.err);
  auto j = json::parse(inspect.out);
  CHECK(j["Layers"].size() == 2);
  auto manifest = json::parse(test::sh("tar -xOf '" + (dir / "image.tar").string() + "' manifest.json").out);
  CHECK(manifest[0]["RepoTags"] == json::array({"demo:1"}));
  CHECK(manifest[0]["Layers"][0] == "blobs/sha256/" + result.layers[0].digest.substr(7));
  auto copy = test::run({"skopeo", "copy", "docker-archive:" + (dir / "image.tar").string(), "dir:" + (dir / "c").string()});
  CHECK_MESSAGE(copy.exit_code == 0, copy.err);
  // skopeo hands docker-archive layers on uncompressed: named by their diff_ids.
  CHECK(fs::exists(dir / "c" / result.layers[0].diff_id.substr(7)));
}

TEST_CASE("a layout whose blobs are a device or a FIFO is refused at once") {
  test::TestDir dir;
  test::write(dir / "src" / "x", "x");
  ImageSpec spec;
  spec.tag = "t";
  spec.layers.push_back(layer_at(dir / "src", "/"));
  auto built = build(spec, dir / "img");
  auto image = *read_layout_image(dir / "img", "t");
  fs::path blobs = dir / "img" / "blobs";
  auto refused = [&](const fs::path& blob, bool fifo) {
    fs::remove(blob);
    if (fifo) REQUIRE(::mkfifo(blob.c_str(), 0600) == 0);
    else fs::create_symlink("/dev/zero", blob);
  };
  SUBCASE("the config is /dev/zero") {
    refused(blob_path(blobs, image.config.digest), false);
    auto r = read_layout_image(dir / "img", "t");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::corrupt);
    CHECK(r.error().message.find("is not a regular file") != std::string::npos);
  }
  SUBCASE("the manifest is a FIFO") {
    refused(blob_path(blobs, image.manifest.digest), true);
    auto r = read_layout_image(dir / "img", "t");
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("is not a regular file") != std::string::npos);
  }
  SUBCASE("index.json is a FIFO") {
    refused(dir / "img" / "index.json", true);
    auto r = read_layout_image(dir / "img", "t");
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("index.json is not a regular file") != std::string::npos);
  }
  SUBCASE("a layer is a FIFO") {
    refused(blob_path(blobs, image.layers[0].digest), true);
    auto r = verify_blob(blob_path(blobs, image.layers[0].digest), image.layers[0]);
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("is not a regular file") != std::string::npos);
  }
  (void)built;
}
