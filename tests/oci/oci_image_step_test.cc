// The oci-image kind as a user runs it: `akbuild step oci-image` in a workspace.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "tests/support/test_support.hh"

using namespace akbuild;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

test::CommandResult step(const test::TestDir& dir, std::vector<std::string> with) {
  std::vector<std::string> argv{"step", "oci-image", "--id", "img"};
  for (auto& w : with) argv.insert(argv.end(), {"--with", w});
  argv.insert(argv.end(), {"-C", (dir / "ws").string()});
  return test::akbuild(dir, argv);
}

} // namespace

TEST_CASE("akbuild step oci-image writes a layout that skopeo verifies, and a rerun keeps its digest") {
  test::TestDir dir;
  test::write(dir / "ws" / "rootfs" / "etc" / "motd", "hello\n");
  test::write(dir / "ws" / "server", "#!/bin/sh\necho serve\n", true);
  std::vector<std::string> with{R"(layers=[{"from": "rootfs/", "to": "/app"}, {"from": "server", "to": "/bin"}])",
                                R"(entrypoint=["/bin/server"])", "user=65534", "tag=demo:1", "layout=out/image",
                                R"(env={"MODE": "prod"})", "ports=8080"};
  auto first = step(dir, with);
  REQUIRE_MESSAGE(first.exit_code == 0, (first.out + first.err));
  fs::path layout = dir / "ws" / "out" / "image";
  REQUIRE(fs::exists(layout / "index.json"));
  auto index = json::parse(test::read(layout / "index.json"));
  std::string digest = index["manifests"][0]["digest"];
  CHECK(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "demo:1");
  CHECK((first.out + first.err).find(digest) != std::string::npos);
  if (test::have_program("skopeo")) {
    auto copy = test::run({"skopeo", "copy", "oci:" + layout.string() + ":demo:1", "dir:" + (dir / "copy").string()});
    CHECK_MESSAGE(copy.exit_code == 0, copy.err);
    auto inspect = test::run({"skopeo", "inspect", "--config", "oci:" + layout.string() + ":demo:1"});
    auto config = json::parse(inspect.out);
    CHECK(config["config"]["Entrypoint"] == json::array({"/bin/server"}));
    CHECK(config["config"]["User"] == "65534");
    CHECK(config["config"]["Env"] == json::array({"MODE=prod"}));
  }

  // A fresh cache gives the same image.
  fs::remove_all(dir / "cache");
  fs::remove_all(layout);
  auto again = step(dir, with);
  REQUIRE_MESSAGE(again.exit_code == 0, (again.out + again.err));
  CHECK(json::parse(test::read(layout / "index.json"))["manifests"][0]["digest"] == digest);
}

TEST_CASE("akbuild step oci-image rejects bad layers with exit status 2 and writes nothing") {
  test::TestDir dir;
  test::write(dir / "ws" / "a" / "f", "f");
  test::write(dir / "ws" / "b" / "g", "g");
  test::write(dir / "ws" / "c" / "f", "other f");
  fs::create_directories(dir / "elsewhere");
  fs::create_directory_symlink(dir / "elsewhere", dir / "ws" / "link");
  struct Case {
    std::string layers, expect, extra = "tag=t";
  };
  for (const auto& c :
       {Case{R"([{"from": "a/", "to": "/app/../etc"}])", "'..'"},
        Case{R"([{"from": "a/", "to": "/x"}, {"from": "a/", "to": "/x/"}])", "'/x' is already used by layers[0]"},
        // The image writer's rule: two directories at one destination, or one file name twice.
        Case{R"([{"from": "a/", "to": "/x"}, {"from": "b/", "to": "/x"}])", "layers[1].to: '/x' is already used"},
        Case{R"([{"from": "a/f", "to": "/x"}, {"from": "c/f", "to": "/x"}])", "'/x/f' is already used by layers[0]"},
        Case{R"([{"from": "../outside", "to": "/x"}])", "inside the workspace"},
        Case{R"([{"from": "a/"}])", "goes through the symlink 'link'", "layout=link/image"},
        Case{R"([{"from": "a/"}])", "leaves the workspace", "docker_archive=../image.tar"}}) {
    CAPTURE(c.layers);
    CAPTURE(c.extra);
    auto r = step(dir, {"layers=" + c.layers, "tag=t", c.extra});
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(r.err.find(c.expect) != std::string::npos, r.err);
    CHECK_FALSE(fs::exists(dir / "ws" / "image"));
    CHECK(fs::is_empty(dir / "elsewhere"));
  }
  // Files of different names may share a destination.
  auto r2 = step(dir, {R"(layers=[{"from": "a/f", "to": "/x"}, {"from": "b/g", "to": "/x"}])", "tag=t"});
  CHECK_MESSAGE(r2.exit_code == 0, r2.err);
  auto r = step(dir, {R"(layers=[{"from": "a/"}])", "tag=t", "push=127.0.0.1:5000/UPPER:1"});
  CHECK(r.exit_code == 2);
  CHECK_MESSAGE(r.err.find("UPPER") != std::string::npos, r.err);
}

TEST_CASE("akbuild step oci-image rebuilds only the layer whose source changed, keyed by input digests") {
  test::TestDir dir;
  test::write(dir / "ws" / "rootfs" / "etc" / "motd", "hello\n");
  test::write(dir / "ws" / "rootfs" / "bin" / "tool", "#!/bin/sh\n", true);
  test::write(dir / "ws" / "server", "v1\n", true);
  std::vector<std::string> with{R"(layers=[{"from": "rootfs/", "to": "/"}, {"from": "server", "to": "/bin"}])",
                                "tag=demo:1", "layout=out/image"};
  auto layers_of = [&] {
    auto index = json::parse(test::read(dir / "ws" / "out" / "image" / "index.json"));
    std::string hex = std::string(index["manifests"][0]["digest"]).substr(7);
    auto manifest = json::parse(test::read(dir / "ws" / "out" / "image" / "blobs" / "sha256" / hex));
    return std::vector<std::string>{manifest["layers"][0]["digest"], manifest["layers"][1]["digest"]};
  };
  auto first = step(dir, with);
  REQUIRE_MESSAGE(first.exit_code == 0, (first.out + first.err));
  CHECK((first.out + first.err).find("2 layers, 0 from the layer cache") != std::string::npos);
  auto before = layers_of();

  test::write(dir / "ws" / "server", "v2\n", true);
  auto second = step(dir, with);
  REQUIRE_MESSAGE(second.exit_code == 0, (second.out + second.err));
  CHECK_MESSAGE((second.out + second.err).find("2 layers, 1 from the layer cache") != std::string::npos,
                (second.out + second.err));
  auto after_server = layers_of();
  CHECK(after_server[0] == before[0]);
  CHECK(after_server[1] != before[1]);

  // A change inside the directory layer is seen too (its key covers every file's digest).
  test::write(dir / "ws" / "rootfs" / "etc" / "motd", "changed\n");
  auto third = step(dir, with);
  REQUIRE_MESSAGE(third.exit_code == 0, (third.out + third.err));
  CHECK((third.out + third.err).find("2 layers, 1 from the layer cache") != std::string::npos);
  auto after_motd = layers_of();
  CHECK(after_motd[0] != before[0]);
  CHECK(after_motd[1] == after_server[1]);

  // So is a change of permission bits alone, which the tar records: when the step runs again
  // (here for the other layer), the directory layer is not taken from the layer cache.
  fs::permissions(dir / "ws" / "rootfs" / "etc" / "motd", fs::perms::owner_read | fs::perms::owner_write);
  test::write(dir / "ws" / "server", "v3\n", true);
  auto fourth = step(dir, with);
  REQUIRE_MESSAGE(fourth.exit_code == 0, (fourth.out + fourth.err));
  CHECK_MESSAGE((fourth.out + fourth.err).find("2 layers, 0 from the layer cache") != std::string::npos,
                (fourth.out + fourth.err));
  CHECK(layers_of()[0] != after_motd[0]);
}

TEST_CASE("akbuild step oci-image stamps SOURCE_DATE_EPOCH on every layer entry and the config, and keys it") {
  test::TestDir dir;
  test::write(dir / "ws" / "rootfs" / "etc" / "motd", "hello\n");
  test::write(dir / "ws" / "server", "#!/bin/sh\n", true);
  std::vector<std::string> argv{"step", "oci-image", "--id", "img", "-C", (dir / "ws").string(), "--with",
                                R"(layers=[{"from": "rootfs/", "to": "/"}, {"from": "server", "to": "/bin"}])",
                                "--with", "tag=demo:1", "--with", "layout=out/image"};
  // Each layer's `tar -tv` lines (GNU tar, UTC) and the config's "created", after a run with `epoch`.
  auto build = [&](const std::string& epoch) {
    test::CommandOptions o;
    if (!epoch.empty()) o.env["SOURCE_DATE_EPOCH"] = epoch;
    auto r = test::akbuild(dir, argv, o);
    REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
    fs::path blobs = dir / "ws" / "out" / "image" / "blobs" / "sha256";
    auto index = json::parse(test::read(dir / "ws" / "out" / "image" / "index.json"));
    auto manifest = json::parse(test::read(blobs / std::string(index["manifests"][0]["digest"]).substr(7)));
    std::string listing;
    test::CommandOptions utc;
    utc.env["TZ"] = "UTC";
    for (const auto& layer : manifest["layers"]) {
      auto tar = test::run({"tar", "--numeric-owner", "--full-time", "-tvf",
                            (blobs / std::string(layer["digest"]).substr(7)).string()},
                           utc);
      REQUIRE_MESSAGE(tar.exit_code == 0, tar.err);
      listing += tar.out;
    }
    auto config = json::parse(test::read(blobs / std::string(manifest["config"]["digest"]).substr(7)));
    return std::pair{listing, config.value("created", std::string())};
  };
  auto count = [](const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  };
  // Plain variables, not structured bindings: clang before 16 cannot capture those in the
  // lambda CHECK_MESSAGE makes (the sanitizer build uses clang).
  auto first = build("1700000000");
  const std::string stamped = first.first, created = first.second;
  std::size_t entries = count(stamped, "\n");
  REQUIRE(entries >= 4);  // etc/, etc/motd, bin/, bin/server at least
  CHECK_MESSAGE(count(stamped, " 2023-11-14 22:13:20 ") == entries, stamped);
  CHECK(created == "2023-11-14T22:13:20Z");
  // Another epoch is another key: the image is made again with the new time, not served old.
  auto second = build("1700000060");
  const std::string later = second.first;
  CHECK_MESSAGE(count(later, " 2023-11-14 22:14:20 ") == entries, later);
  CHECK(second.second == "2023-11-14T22:14:20Z");
  // Unset, the time is 1 (1970-01-01 00:00:01).
  const std::string unset = build("").first;
  CHECK_MESSAGE(count(unset, " 1970-01-01 00:00:01 ") == entries, unset);
}

namespace {

// The image manifest of the only image in the OCI layout at `layout`.
json image_manifest(const fs::path& layout) {
  auto index = json::parse(test::read(layout / "index.json"));
  std::string hex = std::string(index["manifests"][0]["digest"]).substr(7);
  return json::parse(test::read(layout / "blobs" / "sha256" / hex));
}

json image_config(const fs::path& layout) {
  std::string hex = std::string(image_manifest(layout)["config"]["digest"]).substr(7);
  return json::parse(test::read(layout / "blobs" / "sha256" / hex));
}

} // namespace

TEST_CASE("an oci-image layer is the same from a workspace directory and from a dep's output tree") {
  test::TestDir dir;
  // The same tree twice: in the workspace, and made by a step as its output. Both hold an empty
  // directory (which no input glob matches as a file) and a symlink.
  fs::create_directories(dir / "ws" / "tree" / "empty");
  test::write(dir / "ws" / "tree" / "f", "hi\n");
  fs::create_symlink("f", dir / "ws" / "tree" / "link");
  test::write(dir / "ws" / ".forgejo" / "workflows" / "ci.yml", R"(on: push
jobs:
  build:
    runs-on: self-hosted
    steps:
      - id: make
        uses: akbuild/step@v1
        with:
          kind: exec
          run: mkdir -p made/empty && printf 'hi\n' > made/f && ln -s f made/link
          outputs: made/
      - id: from-workspace
        uses: akbuild/step@v1
        with: {kind: oci-image, tag: "ws:1", layout: img-ws, layers: '[{"from": "tree/", "to": "/app"}]'}
      - id: from-dep
        uses: akbuild/step@v1
        with:
          kind: oci-image
          deps: '["make"]'
          tag: "dep:1"
          layout: img-dep
          layers: '[{"from": "made/", "to": "/app"}]'
)");
  auto r = test::akbuild(dir, {"act", "-C", (dir / "ws").string()});
  REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
  auto from_ws = image_manifest(dir / "ws" / "img-ws")["layers"][0]["digest"];
  auto from_dep = image_manifest(dir / "ws" / "img-dep")["layers"][0]["digest"];
  CHECK(from_ws == from_dep);
  // Nothing about the step's name reaches the image.
  for (const char* layout : {"img-ws", "img-dep"})
    CHECK(image_config(dir / "ws" / layout).dump().find("from-") == std::string::npos);
}

TEST_CASE("akbuild step oci-image keys and keeps an empty directory added to a layer's source") {
  test::TestDir dir;
  test::write(dir / "ws" / "rootfs" / "etc" / "motd", "hello\n");
  std::vector<std::string> with{R"(layers=[{"from": "rootfs/", "to": "/"}])", "tag=demo:1", "layout=out/image"};
  auto first = step(dir, with);
  REQUIRE_MESSAGE(first.exit_code == 0, (first.out + first.err));
  auto before = image_manifest(dir / "ws" / "out" / "image")["layers"][0]["digest"];

  fs::create_directories(dir / "ws" / "rootfs" / "var" / "empty");
  auto second = step(dir, with);
  REQUIRE_MESSAGE(second.exit_code == 0, (second.out + second.err));
  CHECK((second.out + second.err).find("0 from the layer cache") != std::string::npos);
  auto after = image_manifest(dir / "ws" / "out" / "image")["layers"][0]["digest"];
  CHECK(after != before);
  if (test::have_program("umoci")) {
    auto unpack = test::run(
        {"umoci", "unpack", "--image", (dir / "ws" / "out" / "image").string() + ":demo:1", (dir / "bundle").string()});
    REQUIRE_MESSAGE(unpack.exit_code == 0, unpack.err);
    CHECK(fs::is_directory(dir / "bundle" / "rootfs" / "var" / "empty"));
  }
}

TEST_CASE("akbuild step oci-image reads a whole input directory where it is: nothing of it is staged") {
  if (!test::have_program("strace")) return test::skip("strace is not installed");
  test::TestDir dir;
  test::write(dir / "ws" / "rootfs" / "etc" / "motd", "hello\n");
  test::write(dir / "ws" / "rootfs" / "private" / "key", "k\n");
  // Its own mode does not reach the layer: a staged directory would have been made 0755.
  fs::permissions(dir / "ws" / "rootfs" / "private", fs::perms::owner_all);
  test::write(dir / "ws" / "server", "#!/bin/sh\n", true);
  std::vector<std::string> with{R"(layers=[{"from": "rootfs/", "to": "/app"}, {"from": "server", "to": "/bin"}])",
                                "tag=demo:1", "layout=out/image"};
  // Staging links each file from the workspace into the run dir's `in/` (strace -y also names
  // the descriptors' paths): that is where a staged input shows.
  auto trace = dir / "trace";
  std::vector<std::string> argv{"strace", "-f", "-y", "-qq", "-o", trace.string(), "-e", "trace=link,linkat",
                                test::akbuild_bin().string(), "--cache-dir", (dir / "cache").string(),
                                "step", "oci-image", "--id", "img", "-C", (dir / "ws").string()};
  for (auto& w : with) argv.insert(argv.end(), {"--with", w});
  auto r = test::run(argv);
  REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
  auto calls = test::read(trace);
  // The single-file layer is staged (the control: the trace shows staging), the directory not.
  CHECK(calls.find("/in/server\"") != std::string::npos);
  CHECK(calls.find("/in/rootfs") == std::string::npos);
  CHECK(calls.find("\"motd\"") == std::string::npos);

  // Its directories' own modes are not keyed, so they do not shape the layer either.
  auto layout = dir / "ws" / "out" / "image";
  auto in_place = image_manifest(layout)["layers"][0]["digest"];
  fs::remove_all(dir / "cache");
  fs::remove_all(layout);
  fs::permissions(dir / "ws" / "rootfs" / "private", fs::perms(0755));
  auto again = step(dir, with);
  REQUIRE_MESSAGE(again.exit_code == 0, (again.out + again.err));
  CHECK(image_manifest(layout)["layers"][0]["digest"] == in_place);
}
