// An oci-image built on a base in a registry: Debian's docker-registry on 127.0.0.1 serves a
// base made of Debian's busybox-static; akbuild pulls it through its CAS, pins its tag's digest
// in akbuild.lock, and the image runs the base's busybox (umoci unpack, then chroot).

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "tests/oci/registry_support.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Builds (and, with a registry, pushes as base:1) a busybox base whose MODE is `mode`, with a
// cache dir of its own, so what the image steps later find in theirs came from the registry.
json build_base(const test::TestDir& dir, const std::string& mode, const std::string& push = "") {
  fs::path ws = dir / "ws-base";
  fs::create_directories(ws / "rootfs" / "bin");
  fs::copy_file("/bin/busybox", ws / "rootfs" / "bin" / "busybox", fs::copy_options::overwrite_existing);
  test::write(ws / "rootfs" / "etc" / "base-mode", mode + "\n");
  std::vector<std::string> argv{"step", "oci-image", "--id", "base", "-C", ws.string(),
                                "--with", R"(layers=[{"from": "rootfs/", "to": "/"}])",
                                "--with", R"(entrypoint=["/bin/busybox", "sh", "-c"])",
                                "--with", R"(cmd=["echo base"])",
                                "--with", R"(env={"BASE": "busybox", "MODE": ")" + mode + R"("})",
                                "--with", "tag=base"};
  if (!push.empty()) argv.insert(argv.end(), {"--with", "push=" + push});
  test::CommandOptions o;
  o.env["AKBUILD_CACHE_DIR"] = (dir / "base-cache").string();
  auto r = test::akbuild(dir, argv, o);
  REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
  auto index = json::parse(test::read(ws / "image" / "index.json"));
  std::string digest = index["manifests"][0]["digest"];
  auto manifest = json::parse(test::read(ws / "image" / "blobs" / "sha256" / digest.substr(7)));
  manifest["digest"] = digest;
  return manifest;
}

std::vector<std::string> image_with(const std::string& base) {
  return {"tag=app", "base=" + base, R"(layers=[{"from": "app/", "to": "/app"}])",
          R"(cmd=["/bin/busybox cat /app/hello.txt; echo MODE=$MODE BASE=$BASE"])", R"(env={"MODE": "app"})"};
}

test::CommandResult akbuild_with(const test::TestDir& dir, std::vector<std::string> argv,
                                 const std::vector<std::string>& with) {
  for (const auto& w : with) argv.insert(argv.end(), {"--with", w});
  argv.insert(argv.end(), {"-C", (dir / "ws").string()});
  return test::akbuild(dir, argv);
}

test::CommandResult build(const test::TestDir& dir, const std::string& base) {
  return akbuild_with(dir, {"step", "oci-image", "--id", "img"}, image_with(base));
}

test::CommandResult pin_update(const test::TestDir& dir, const std::string& base, bool check = false) {
  std::vector<std::string> argv{"pin", "update", "oci-image", "--id", "img"};
  if (check) argv.push_back("--check");
  return akbuild_with(dir, argv, image_with(base));
}

json image_manifest(const test::TestDir& dir) {
  fs::path layout = dir / "ws" / "image";
  std::string digest = json::parse(test::read(layout / "index.json"))["manifests"][0]["digest"];
  return json::parse(test::read(layout / "blobs" / "sha256" / digest.substr(7)));
}

std::vector<std::string> layer_digests(const json& manifest) {
  std::vector<std::string> out;
  for (const auto& l : manifest["layers"]) out.push_back(l["digest"]);
  return out;
}

// What the image at ws/image prints when run as a container would run it: unpacked by umoci,
// its process (args, env, cwd) from the runtime config, in a chroot of the rootfs.
std::string run_image(const test::TestDir& dir) {
  fs::path bundle = dir / "bundle";
  fs::remove_all(bundle);
  auto unpack = test::run({"umoci", "unpack", "--image", (dir / "ws" / "image").string() + ":app", bundle.string()});
  REQUIRE_MESSAGE(unpack.exit_code == 0, unpack.err);
  auto process = json::parse(test::read(bundle / "config.json"))["process"];
  std::vector<std::string> argv{"env", "-i"};
  for (const auto& e : process["env"]) argv.push_back(e);
  argv.insert(argv.end(), {"chroot", (bundle / "rootfs").string()});
  for (const auto& a : process["args"]) argv.push_back(a);
  auto r = test::run(argv);
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  return r.out;
}

} // namespace

TEST_CASE("an oci-image on a registry base: pinned by digest, pulled once into the CAS, run from the base's busybox") {
  if (!test::have_program("docker-registry") || !test::have_program("umoci") || !fs::exists("/bin/busybox"))
    return test::skip("docker-registry, umoci or busybox-static is not installed");
  if (::geteuid() != 0) return test::skip("running the image needs chroot (root)");
  test::TestDir dir;
  auto registry = std::make_unique<test::Registry>(dir);
  int port = registry->port;
  std::string registry_host = registry->host();
  std::string base = "docker://" + registry->host() + "/base:1";
  json first_base = build_base(dir, "one", registry->host() + "/base:1");
  test::write(dir / "ws" / "app" / "hello.txt", "hello from the app\n");

  // A tag nobody pinned is not built on whatever it names today.
  auto unpinned = build(dir, base);
  CHECK(unpinned.exit_code == 1);
  CHECK_MESSAGE((unpinned.out + unpinned.err).find(base + ", which akbuild.lock does not pin: run `akbuild pin update") !=
                    std::string::npos, (unpinned.out + unpinned.err));

  auto pinned = pin_update(dir, base);
  REQUIRE_MESSAGE(pinned.exit_code == 0, (pinned.out + pinned.err));
  CHECK_MESSAGE(pinned.out.find("pin " + base + ": updated: none -> " + first_base["digest"].get<std::string>()) !=
                    std::string::npos, pinned.out);
  auto lock = json::parse(test::read(dir / "ws" / "akbuild.lock"));
  CHECK(lock["images"][base] == first_base["digest"]);

  auto built = build(dir, base);
  REQUIRE_MESSAGE(built.exit_code == 0, (built.out + built.err));
  // pin update pulled the image: the build takes all of it (manifest, config, layer) from the CAS.
  CHECK_MESSAGE((built.out + built.err).find("(0 from the registry, 3 from the cache)") != std::string::npos,
                (built.out + built.err));
  auto manifest = image_manifest(dir);
  auto layers = layer_digests(manifest);
  REQUIRE(layers.size() == 2);
  CHECK(layers[0] == first_base["layers"][0]["digest"]);
  auto config = json::parse(test::read(dir / "ws" / "image" / "blobs" / "sha256" /
                                       manifest["config"]["digest"].get<std::string>().substr(7)));
  CHECK(config["config"]["Entrypoint"] == json::array({"/bin/busybox", "sh", "-c"}));
  CHECK(config["config"]["Cmd"] == json::array({"/bin/busybox cat /app/hello.txt; echo MODE=$MODE BASE=$BASE"}));
  CHECK(config["config"]["Env"] == json::array({"BASE=busybox", "MODE=app"}));
  CHECK(config["rootfs"]["diff_ids"].size() == 2);
  CHECK(run_image(dir) == "hello from the app\nMODE=app BASE=busybox\n");

  // The registry gone: the same build is a hit, a changed one pulls its base from the CAS.
  registry.reset();
  auto again = akbuild_with(dir, {"step", "oci-image", "--id", "img", "--json"}, image_with(base));
  REQUIRE_MESSAGE(again.exit_code == 0, (again.out + again.err));
  CHECK_MESSAGE(again.out.find(R"("cache-hit":"true")") != std::string::npos, again.out);
  test::write(dir / "ws" / "app" / "hello.txt", "hello again\n");
  auto offline = build(dir, base);
  REQUIRE_MESSAGE(offline.exit_code == 0, (offline.out + offline.err));
  CHECK(layer_digests(image_manifest(dir))[0] == first_base["layers"][0]["digest"]);
  CHECK(run_image(dir) == "hello again\nMODE=app BASE=busybox\n");
  // By digest, no pin is needed (and none is written); the CAS holds it.
  auto by_digest = akbuild_with(dir, {"step", "oci-image", "--id", "by-digest"},
                                image_with("docker://" + registry_host + "/base@" + first_base["digest"].get<std::string>()));
  REQUIRE_MESSAGE(by_digest.exit_code == 0, (by_digest.out + by_digest.err));
  CHECK(layer_digests(image_manifest(dir))[0] == first_base["layers"][0]["digest"]);
  CHECK(json::parse(test::read(dir / "ws" / "akbuild.lock"))["images"].size() == 1);

  // base:1 moves to another image: builds keep the pinned one until a pin update.
  registry = std::make_unique<test::Registry>(dir, "", port);
  json second_base = build_base(dir, "two", registry->host() + "/base:1");
  REQUIRE(second_base["digest"] != first_base["digest"]);
  fs::remove_all(dir / "cache" / "ac");  // not a hit: the base is read again
  auto kept = build(dir, base);
  REQUIRE_MESSAGE(kept.exit_code == 0, (kept.out + kept.err));
  CHECK(layer_digests(image_manifest(dir))[0] == first_base["layers"][0]["digest"]);
  CHECK((kept.out + kept.err).find("(0 from the registry, 3 from the cache)") != std::string::npos);
  auto check = pin_update(dir, base, true);
  CHECK_MESSAGE(check.exit_code == 1, ((check.out + check.err)));
  CHECK_MESSAGE(check.out.find("pin " + base + ": stale: " + first_base["digest"].get<std::string>() + " -> " +
                               second_base["digest"].get<std::string>()) != std::string::npos, check.out);
  CHECK(json::parse(test::read(dir / "ws" / "akbuild.lock"))["images"][base] == first_base["digest"]);
  // A pinned digest neither the cache nor the registry has is a clear failure.
  std::string lock_text = test::read(dir / "ws" / "akbuild.lock");
  std::string missing = "sha256:" + std::string(64, 'f');
  auto at = lock_text.find(first_base["digest"].get<std::string>());
  REQUIRE(at != std::string::npos);
  test::write(dir / "ws" / "akbuild.lock", lock_text.substr(0, at) + missing + lock_text.substr(at + missing.size()));
  auto unavailable = build(dir, base);
  CHECK(unavailable.exit_code == 1);
  CHECK_MESSAGE((unavailable.out + unavailable.err).find("GET manifest " + missing + ": 404 Not Found") != std::string::npos,
                (unavailable.out + unavailable.err));
  CHECK((unavailable.out + unavailable.err).find("`akbuild pin update` resolves the tag again") != std::string::npos);
  auto updated = pin_update(dir, base);
  REQUIRE_MESSAGE(updated.exit_code == 0, (updated.out + updated.err));
  CHECK(pin_update(dir, base, true).exit_code == 0);
  auto moved = build(dir, base);
  REQUIRE_MESSAGE(moved.exit_code == 0, (moved.out + moved.err));
  CHECK(layer_digests(image_manifest(dir))[0] == second_base["layers"][0]["digest"]);
  CHECK(run_image(dir) == "hello again\nMODE=app BASE=busybox\n");
  CHECK(test::read(dir / "bundle" / "rootfs" / "etc" / "base-mode") == "two\n");
}

TEST_CASE("a registry base given by digest needs no pin, and a blob that does not match its digest fails the step") {
  if (!fs::exists("/bin/busybox")) return test::skip("busybox-static is not installed");
  test::TestDir dir;
  json base = build_base(dir, "one");
  std::string layer = base["layers"][0]["digest"];
  // A stand-in server (tests/oci/corrupt_blob_registry.py): docker-registry never sends a wrong
  // blob, and sending one is the fault under test.
  int port = test::free_port();
  test::Server server(dir,
                      "exec /usr/bin/python3 '" + (test::source_root() / "tests/oci/corrupt_blob_registry.py").string() +
                          "' " + std::to_string(port) + " '" + (dir / "ws-base" / "image").string() + "' " + layer,
                      "corrupt-registry");
  test::Server::wait_for("http://127.0.0.1:" + std::to_string(port) + "/v2/");
  test::write(dir / "ws" / "app" / "hello.txt", "hello\n");
  std::string ref = "docker://127.0.0.1:" + std::to_string(port) + "/base@" + base["digest"].get<std::string>();
  auto r = build(dir, ref);
  CHECK(r.exit_code == 1);
  std::string output = r.out + r.err, line;
  for (std::size_t pos = 0; pos < output.size();) {
    auto end = output.find('\n', pos);
    std::string l = output.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    if (l.find("GET blob " + layer) != std::string::npos) line = l;
    pos = end == std::string::npos ? output.size() : end + 1;
  }
  CHECK_MESSAGE(line.find("hashing to sha256:") != std::string::npos, output);
  // Nothing kept: no action record, no layer blob, nothing left in tmp/.
  CHECK_FALSE(fs::exists(dir / "cache" / "cas" / "sha256" / layer.substr(7, 2) / layer.substr(9)));
  std::size_t records = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir / "cache" / "ac"))
    if (e.is_regular_file() && e.path().parent_path().filename() != "last") ++records;
  CHECK(records == 0);
  CHECK(fs::is_empty(dir / "cache" / "tmp"));
  CHECK_FALSE(fs::exists(dir / "ws" / "akbuild.lock"));
}

TEST_CASE("a registry base that does not parse is a usage error naming with: base") {
  test::TestDir dir;
  test::write(dir / "ws" / "app" / "hello.txt", "hello\n");
  auto r = build(dir, "docker://127.0.0.1:5000/Base:1");
  CHECK(r.exit_code == 2);
  CHECK_MESSAGE(r.err.find("oci-image: with: base: image reference '127.0.0.1:5000/Base:1': repository component "
                           "'Base' must be lower-case") != std::string::npos,
                r.err);
}
