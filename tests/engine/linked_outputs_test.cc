// Outputs as `akbuild step` and `akbuild act` users see them: what a hit writes into the
// workspace (read-only links to the CAS blobs), what an edit through such a link does to the
// cache (as root, whom the mode does not stop), how keys and image layers read a linked file, and
// what a sandboxed step may do to a dependency output staged as links to the CAS.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <fstream>
#include <regex>

#include "runner/core/encoding.hh"
#include "runner/core/hash.hh"
#include "runner/exec/sandbox.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
namespace fs = std::filesystem;

namespace {

fs::path blob_of(const test::TestDir& dir, const std::string& content) {
  auto hex = to_hex(sha256(content));
  return dir / "cache" / "cas" / "sha256" / hex.substr(0, 2) / hex.substr(2);
}

struct stat stat_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st;
}

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

test::CommandResult step(const test::TestDir& dir, const std::string& run) {
  return test::akbuild(dir, {"step", "exec", "-C", (dir / "ws").string(), "--sandbox", "off", "--with",
                             "outputs=out/", "--with", "run=" + run});
}

// The `tar -tv` listing of the one layer of the image an oci-image step wrote to ws/image.
std::string layer_listing(const test::TestDir& dir) {
  fs::path blobs = dir / "ws" / "image" / "blobs" / "sha256";
  auto index = test::read(dir / "ws" / "image" / "index.json");
  std::smatch m;
  REQUIRE(std::regex_search(index, m, std::regex(R"(sha256:([0-9a-f]{64}))")));
  auto manifest = test::read(blobs / m[1].str());
  std::smatch layer;
  REQUIRE(std::regex_search(manifest, layer, std::regex(R"("layers":\[\{[^}]*"digest":"sha256:([0-9a-f]{64}))")));
  auto tar = test::run({"tar", "--numeric-owner", "--full-time", "-tvf", (blobs / layer[1].str()).string()});
  REQUIRE_MESSAGE(tar.exit_code == 0, tar.err);
  return layer[1].str() + "\n" + tar.out;
}

} // namespace

TEST_CASE("a hit restores regular output files as read-only links to their blobs, executables as copies") {
  test::TestDir dir;
  fs::create_directories(dir / "ws");
  std::string run = "mkdir -p out/d; echo data > out/d/f.txt; printf '#!/bin/sh\\n' > out/run.sh; chmod +x out/run.sh";
  REQUIRE(step(dir, run).exit_code == 0);
  // The miss materializes the same way.
  CHECK(stat_of(dir / "ws" / "out" / "d" / "f.txt").st_ino == stat_of(blob_of(dir, "data\n")).st_ino);
  fs::remove_all(dir / "ws" / "out");
  auto hit = step(dir, run);
  INFO(hit.out, hit.err);
  REQUIRE(contains(hit.out, "hit"));
  auto file = stat_of(dir / "ws" / "out" / "d" / "f.txt");
  CHECK(file.st_ino == stat_of(blob_of(dir, "data\n")).st_ino);
  CHECK((file.st_mode & 07777) == 0444);
  CHECK(file.st_mtim.tv_sec == 1);
  auto exe = stat_of(dir / "ws" / "out" / "run.sh");
  CHECK(exe.st_ino != stat_of(blob_of(dir, "#!/bin/sh\n")).st_ino);
  CHECK((exe.st_mode & 07777) == 0755);
  CHECK((stat_of(dir / "ws" / "out" / "d").st_mode & 07777) == 0755);
}

TEST_CASE("editing a materialized output in place, as root, never reaches a later hit") {
  test::TestDir dir;
  fs::create_directories(dir / "ws");
  std::string run = "mkdir -p out; echo precious > out/p.txt; echo \"$RANDOM$RANDOM\" > out/run-id";
  REQUIRE(step(dir, run).exit_code == 0);
  auto first_run = test::read(dir / "ws" / "out" / "run-id");
  if (::geteuid() != 0) {
    // A user is stopped by the mode.
    std::ofstream edit(dir / "ws" / "out" / "p.txt", std::ios::app);
    CHECK_FALSE(edit.is_open());
    return;
  }
  // Root ignores the read-only mode: the edit goes through the link into the blob's inode.
  { std::ofstream edit(dir / "ws" / "out" / "p.txt", std::ios::app); edit << "edited\n"; }
  REQUIRE(test::read(blob_of(dir, "precious\n")) == "precious\nedited\n");

  auto again = step(dir, run);
  INFO(again.out, again.err);
  CHECK(again.exit_code == 0);
  // The blob lost its intact mark with the write: re-hashed, found changed, dropped, run again.
  CHECK(test::read(dir / "ws" / "out" / "p.txt") == "precious\n");
  CHECK(test::read(dir / "ws" / "out" / "run-id") != first_run);
  CHECK(test::read(blob_of(dir, "precious\n")) == "precious\n");
  auto verify = test::akbuild(dir, {"cache", "verify"});
  INFO(verify.out, verify.err);
  CHECK(verify.exit_code == 0);
}

TEST_CASE("keys and image layers read a linked output as the plain file its tree records") {
  test::TestDir dir;
  fs::create_directories(dir / "ws");
  // Two files with one content share a blob: linked out, they are one inode.
  REQUIRE(step(dir, "mkdir -p out; echo same > out/a; echo same > out/b; echo other > out/c").exit_code == 0);
  REQUIRE(stat_of(dir / "ws" / "out" / "a").st_ino == stat_of(dir / "ws" / "out" / "b").st_ino);
  auto consume = [&] {
    return test::akbuild(dir, {"step", "exec", "-C", (dir / "ws").string(), "--sandbox", "off", "--id", "use",
                               "--with", "inputs=out/**", "--with", "outputs=n.txt", "--with",
                               "run=cat out/a out/b out/c | wc -l > n.txt; echo $RANDOM$RANDOM >> n.txt"});
  };
  auto image = [&] {
    fs::remove_all(dir / "ws" / "image");
    auto r = test::akbuild(dir, {"step", "oci-image", "--id", "img", "-C", (dir / "ws").string(), "--with",
                                 R"(layers=[{"from": "out/", "to": "/out"}])", "--with", "tag=t:1", "--with",
                                 "layout=image/"},
                           {});
    REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
    return layer_listing(dir);
  };
  auto first = consume();
  REQUIRE_MESSAGE(first.exit_code == 0, (first.out + first.err));
  auto linked_layer = image();
  // The layer the layer cache adopted is one file with the image's copy, and marked: linked, not
  // copied, into the workspace.
  auto layer_digest = linked_layer.substr(0, linked_layer.find('\n'));
  auto in_image = stat_of(dir / "ws" / "image" / "blobs" / "sha256" / layer_digest);
  auto in_cache = stat_of(dir / "cache" / "cas" / "sha256" / layer_digest.substr(0, 2) / layer_digest.substr(2));
  CHECK(in_image.st_ino == in_cache.st_ino);
  CHECK(in_cache.st_mtim.tv_sec == 1);
  // Every file is a 0644 file of its own, none a hard link of another.
  CHECK(linked_layer.find("-r--r--r--") == std::string::npos);
  CHECK(linked_layer.find(" link to ") == std::string::npos);
  for (const char* name : {"a", "b", "c"})
    CHECK(std::regex_search(linked_layer, std::regex(std::string("\n-rw-r--r-- [^\n]* out/") + name + "\n")));

  // The same files as plain copies the user made: the same key, the same layer.
  for (const char* name : {"a", "b", "c"}) {
    auto content = test::read(dir / "ws" / "out" / name);
    fs::remove(dir / "ws" / "out" / name);
    test::write(dir / "ws" / "out" / name, content);
    fs::permissions(dir / "ws" / "out" / name, fs::perms(0644));
  }
  auto second = consume();
  INFO(second.out, second.err);
  CHECK(contains(second.out, "hit"));
  // Written again from these files, not served from the action or layer cache.
  fs::remove_all(dir / "cache" / "ac");
  fs::remove_all(dir / "cache" / "layers");
  CHECK(image() == linked_layer);
}

TEST_CASE("a sandboxed step cannot write through a staged dependency output linked to the CAS") {
  std::string why;
  if (!exec::sandbox_available(&why)) return test::skip("bubblewrap does not work here: " + why);
  test::TestDir dir;
  test::write(dir / "ws" / ".forgejo" / "workflows" / "ci.yml", R"(on: push
jobs:
  build:
    runs-on: self-hosted
    steps:
      - id: gen
        uses: akbuild/step@v1
        with: {kind: exec, run: "mkdir -p gen; echo generated > gen/g.txt", outputs: gen/}
      - id: use
        uses: akbuild/step@v1
        with:
          kind: exec
          deps: '["gen"]'
          outputs: use.txt
          run: |
            chmod u+w gen/g.txt || true
            echo tampered >> gen/g.txt || true
            ln gen/g.txt hard 2>/dev/null || true
            id -u > use.txt; cat gen/g.txt >> use.txt
)");
  auto r = test::akbuild(dir, {"act", "-C", (dir / "ws").string()});
  INFO(r.out, r.err);
  REQUIRE(r.exit_code == 0);
  auto blob = blob_of(dir, "generated\n");
  CHECK(test::read(blob) == "generated\n");
  CHECK((stat_of(blob).st_mode & 07777) == 0444);
  CHECK(stat_of(blob).st_mtim.tv_sec == 1);
  CHECK(test::read(dir / "ws" / "use.txt") == (::geteuid() == 0 ? "65534\n" : std::to_string(::geteuid()) + "\n") +
                                                  "generated\n");
}

TEST_CASE("a whole input directory is bound read-only into the sandbox; a glob that selects part of one stages files") {
  std::string why;
  if (!exec::sandbox_available(&why)) return test::skip("bubblewrap does not work here: " + why);
  test::TestDir dir;
  test::write(dir / "ws" / "src" / "a.txt", "A\n");
  test::write(dir / "ws" / "src" / "sub" / "b.txt", "B\n");
  test::write(dir / "ws" / "src" / "notes.md", "N\n");
  auto run = [&](const std::string& id, const std::string& inputs) {
    return test::akbuild(dir, {"step", "exec", "-C", (dir / "ws").string(), "--sandbox", "require", "--id", id,
                               "--with", "inputs=" + inputs, "--with", "outputs=seen.txt", "--with",
                               "run=(grep -c ' /build/ws/src ' /proc/self/mountinfo || true) > seen.txt; "
                               "ls -R src >> seen.txt; echo x >> src/a.txt 2>/dev/null || echo read-only >> seen.txt"});
  };
  auto whole = run("whole", "src/**");
  INFO(whole.out, whole.err);
  REQUIRE(whole.exit_code == 0);
  CHECK(test::read(dir / "ws" / "seen.txt") == "1\nsrc:\na.txt\nnotes.md\nsub\n\nsrc/sub:\nb.txt\nread-only\n");
  auto part = run("part", "src/**/*.txt");
  INFO(part.out, part.err);
  REQUIRE(part.exit_code == 0);
  CHECK(test::read(dir / "ws" / "seen.txt") == "0\nsrc:\na.txt\nsub\n\nsrc/sub:\nb.txt\nread-only\n");
  CHECK(test::read(dir / "ws" / "src" / "a.txt") == "A\n");
}
