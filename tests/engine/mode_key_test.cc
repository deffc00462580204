// Permission bits of inputs in the action key: a `chmod 600` or `chmod +x` of an input is a miss
// for every kind that reads workspace files, since the bits can reach the output (an image's tar
// records them; a command may copy or stat the file).
#include <doctest/doctest.h>

#include <map>
#include <regex>

#include "runner/engine/manifest.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
namespace fs = std::filesystem;

namespace {

constexpr auto k_rw_owner = fs::perms::owner_read | fs::perms::owner_write;
constexpr auto k_rwx_all = fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                           fs::perms::others_read | fs::perms::others_exec;

test::CommandOptions with_tools() {
  test::CommandOptions o;
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin";
  if (const char* tools = std::getenv("AKBUILD_TOOLS")) path = std::string(tools) + ":" + path;
  o.env["PATH"] = path;
  return o;
}

// One step of each kind that keys workspace files, each reading the file `files` names for it.
const std::map<std::string, std::string> k_files{{"exec", "in.txt"},
                                                 {"web-bundle", "web/src/app.js"},
                                                 {"openapi-client", "api/schema.yml"},
                                                 {"go-build", "srv/main.go"},
                                                 {"oci-image", "rootfs/motd"}};

void write_workspace(const test::TestDir& dir) {
  test::write(dir / "ws/in.txt", "in\n");
  test::write(dir / "ws/web/src/app.js", "console.log(1)\n");
  test::write(dir / "ws/web/package.json", R"({"name": "w", "scripts": {"build": "true"}})");
  test::write(dir / "ws/api/schema.yml", "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths: {}\n");
  test::write(dir / "ws/srv/go.mod", "module x\n\ngo 1.19\n");
  test::write(dir / "ws/srv/main.go", "package main\n\nfunc main() {}\n");
  test::write(dir / "ws/rootfs/motd", "hello\n");
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(on: push
jobs:
  build:
    runs-on: self-hosted
    steps:
      - uses: akbuild/step@v1
        with: {kind: exec, run: "cat in.txt > out.txt", inputs: in.txt, outputs: out.txt}
      - uses: akbuild/step@v1
        with: {kind: web-bundle, directory: web, script: build}
      - uses: akbuild/step@v1
        with: {kind: openapi-client, generator: openapi-typescript, schema: api/schema.yml, output: gen/types}
      - uses: akbuild/step@v1
        with: {kind: go-build, directory: srv, output: bin/server}
      - uses: akbuild/step@v1
        with: {kind: oci-image, layers: '[{"from": "rootfs/", "to": "/"}]', tag: "x:1"}
)");
  for (const auto& [kind, file] : k_files) fs::permissions(dir / "ws" / file, fs::perms(0644));
}

// kind -> action key, from the dry run's "akbuild KIND: key HEX" lines.
std::map<std::string, std::string> dry_run_keys(const test::TestDir& dir) {
  auto r = test::akbuild(dir, {"act", "-n", "-C", (dir / "ws").string()}, with_tools());
  REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
  std::map<std::string, std::string> keys;
  static const std::regex line(R"(akbuild ([a-z-]+): key ([0-9a-f]{64}) )");
  for (auto it = std::sregex_iterator(r.out.begin(), r.out.end(), line); it != std::sregex_iterator(); ++it)
    keys[(*it)[1]] = (*it)[2];
  REQUIRE(keys.size() == k_files.size());
  return keys;
}

} // namespace

TEST_CASE("append_input_mode keys the exec bit and any permission bits but the usual 0644 and 0755") {
  auto line = [](bool executable, unsigned mode) {
    std::string l = "input a: d";
    engine::append_input_mode(l, executable, mode);
    return l;
  };
  CHECK(line(false, 0644) == "input a: d");
  CHECK(line(true, 0755) == "input a: d x");
  CHECK(line(false, 0600) == "input a: d mode 0600");
  CHECK(line(true, 0700) == "input a: d x mode 0700");
  CHECK(line(false, 0664) == "input a: d mode 0664");
  CHECK(line(true, 04755) == "input a: d x mode 4755");
}

TEST_CASE("chmod 600 and chmod +x of an input change the action key of every kind that reads it") {
  test::TestDir dir;
  write_workspace(dir);
  auto before = dry_run_keys(dir);
  for (const auto& [kind, file] : k_files) fs::permissions(dir / "ws" / file, k_rw_owner);
  auto private_keys = dry_run_keys(dir);
  for (const auto& [kind, file] : k_files) fs::permissions(dir / "ws" / file, k_rwx_all);
  auto exec_keys = dry_run_keys(dir);
  for (const auto& [kind, file] : k_files) {
    CAPTURE(kind);
    CHECK(private_keys.at(kind) != before.at(kind));
    CHECK(exec_keys.at(kind) != before.at(kind));
    CHECK(exec_keys.at(kind) != private_keys.at(kind));
  }
  // Back to 0644: the first keys again.
  for (const auto& [kind, file] : k_files) fs::permissions(dir / "ws" / file, fs::perms(0644));
  CHECK(dry_run_keys(dir) == before);
}

TEST_CASE("an exec step that reads an input's mode runs again after chmod 600 and chmod +x") {
  test::TestDir dir;
  test::write(dir / "ws/in.txt", "in\n");
  fs::permissions(dir / "ws/in.txt", fs::perms(0644));
  auto run = [&] {
    auto r = test::akbuild(dir, {"step", "exec", "--id", "mode", "-C", (dir / "ws").string(), "--with",
                                 "run=stat -c %a in.txt > mode.txt", "--with", "inputs=in.txt", "--with",
                                 "outputs=mode.txt", "--with", R"(tools=["stat"])"});
    REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
    return test::read(dir / "ws/mode.txt");
  };
  CHECK(run() == "644\n");
  fs::permissions(dir / "ws/in.txt", k_rw_owner);
  CHECK(run() == "600\n");
  fs::permissions(dir / "ws/in.txt", fs::perms::owner_exec, fs::perm_options::add);
  CHECK(run() == "700\n");
}

TEST_CASE("an oci-image layer records the file mode after chmod 600 and chmod +x, not the cached one") {
  test::TestDir dir;
  test::write(dir / "ws/rootfs/etc/motd", "hello\n");
  fs::permissions(dir / "ws/rootfs/etc/motd", fs::perms(0644));
  // The layer's `tar -tv` line for etc/motd after a run.
  auto motd_line = [&] {
    auto r = test::akbuild(dir, {"step", "oci-image", "--id", "img", "-C", (dir / "ws").string(), "--with",
                                 R"(layers=[{"from": "rootfs/", "to": "/"}])", "--with", "tag=demo:1", "--with",
                                 "layout=out/image"});
    REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
    fs::path blobs = dir / "ws/out/image/blobs/sha256";
    auto index = test::read(dir / "ws/out/image/index.json");
    std::smatch m;
    REQUIRE(std::regex_search(index, m, std::regex(R"(sha256:([0-9a-f]{64}))")));
    auto manifest = test::read(blobs / m[1].str());
    std::smatch layer;
    REQUIRE(std::regex_search(manifest, layer, std::regex(R"("layers":\[\{[^}]*"digest":"sha256:([0-9a-f]{64}))")));
    auto tar = test::run({"tar", "--numeric-owner", "-tvf", (blobs / layer[1].str()).string()});
    REQUIRE_MESSAGE(tar.exit_code == 0, tar.err);
    auto at = tar.out.find("etc/motd");
    REQUIRE(at != std::string::npos);
    auto start = tar.out.rfind('\n', at);
    return tar.out.substr(start == std::string::npos ? 0 : start + 1, 10);
  };
  CHECK(motd_line() == "-rw-r--r--");
  fs::permissions(dir / "ws/rootfs/etc/motd", k_rw_owner);
  CHECK(motd_line() == "-rw-------");
  fs::permissions(dir / "ws/rootfs/etc/motd", fs::perms::owner_exec, fs::perm_options::add);
  CHECK(motd_line() == "-rwx------");
}
