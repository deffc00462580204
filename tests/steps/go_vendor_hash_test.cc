// Go's pins are buildGoModule's vendorHash: mode vendor pins the tree `go mod vendor` makes,
// mode download (proxyVendor) the module download cache in GOPROXY layout, each NAR-hashed as
// Nix hashes it; and a build reads either. Offline: the modules come from a file:// GOPROXY the
// test writes.
#include <doctest/doctest.h>

#include "tests/support/test_support.hh"

using namespace akbuild;
namespace fs = std::filesystem;

namespace {

// A module proxy in GOPROXY's file layout serving example.com/greet v1.0.0, and a workspace whose
// module `server` requires it, with go.sum written by `go mod tidy` against that proxy.
struct GoWorkspace {
  test::TestDir dir;
  fs::path proxy = dir / "proxy", ws = dir / "ws";
  std::map<std::string, std::string> go_env;

  GoWorkspace() {
    test::write(dir / "greet/go.mod", "module example.com/greet\n\ngo 1.19\n");
    test::write(dir / "greet/greet.go", "package greet\n\nfunc Hello() string { return \"hello from greet\" }\n");
    test::write(dir / "greet/unused/unused.go", "package unused\n\nconst X = 1\n");
    auto zipped = test::run({"/usr/bin/python3", "-c", R"(import json, os, sys, zipfile
src, proxy = sys.argv[1], sys.argv[2]
at = os.path.join(proxy, 'example.com/greet/@v')
os.makedirs(at)
with zipfile.ZipFile(os.path.join(at, 'v1.0.0.zip'), 'w') as z:
    for f in ['go.mod', 'greet.go', 'unused/unused.go']:
        z.write(os.path.join(src, f), 'example.com/greet@v1.0.0/' + f)
open(os.path.join(at, 'v1.0.0.mod'), 'w').write(open(os.path.join(src, 'go.mod')).read())
open(os.path.join(at, 'v1.0.0.info'), 'w').write(json.dumps({'Version': 'v1.0.0', 'Time': '2020-01-01T00:00:00Z'}))
open(os.path.join(at, 'list'), 'w').write('v1.0.0\n')
)", (dir / "greet").string(), proxy.string()});
    REQUIRE_MESSAGE(zipped.exit_code == 0, zipped.err);
    test::write(ws / "server/go.mod", "module example.com/server\n\ngo 1.19\n\nrequire example.com/greet v1.0.0\n");
    test::write(ws / "server/main.go",
                "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/greet\"\n)\n\nfunc main() { fmt.Println(greet.Hello()) }\n");
    go_env = {{"GOPROXY", "file://" + proxy.string()}, {"GOSUMDB", "off"}, {"GOFLAGS", "-modcacherw"},
              {"GOPATH", (dir / "gopath").string()}, {"GOCACHE", (dir / "gocache").string()}, {"GOTOOLCHAIN", "local"}};
    auto tidy = test::run({"go", "mod", "tidy"}, {ws / "server", go_env});
    REQUIRE_MESSAGE(tidy.exit_code == 0, tidy.err);
  }

  // The SRI NAR hash real Nix computes for `path`.
  static std::string nix_sri(const fs::path& path) {
    auto r = test::run({"nix", "--extra-experimental-features", "nix-command", "hash", "path", "--sri", path.string()});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    return r.out.substr(0, r.out.find('\n'));
  }

  std::string pin(const std::string& id) {
    auto lock = test::read(ws / "akbuild.lock");
    auto at = lock.find("\"" + id + "\"");
    REQUIRE(at != std::string::npos);
    auto h = lock.find("sha256-", at);
    return lock.substr(h, lock.find('"', h) - h);
  }

  // A go-build step through the CLI, as a step of one runner job (so a later step's deps name an
  // earlier one). The file:// proxy lies outside the workspace, where a sandbox cannot see it: the
  // steps run unsandboxed (--sandbox off).
  test::CommandResult akbuild(std::vector<std::string> args) {
    args.insert(args.end(), {"-C", ws.string(), "--sandbox", "off", "--with",
                             "env={\"GOPROXY\": \"file://" + proxy.string() + "\"}"});
    test::CommandOptions o;
    o.env = {{"RUNNER_TEMP", (dir / "runner-temp").string()}, {"GITHUB_RUN_ID", "1"}, {"GITHUB_JOB", "build"}};
    return test::akbuild(dir, args, o);
  }
};

} // namespace

TEST_CASE("go-build mode vendor pins buildGoModule's vendorHash and a build uses the vendor dir") {
  if (!test::have_program("go") || !test::have_program("nix")) return test::skip("go or nix is not installed");
  GoWorkspace w;
  // What buildGoModule's go-modules derivation outputs: `go mod vendor` in the source tree.
  auto theirs = w.dir / "nix-src";
  fs::create_directories(theirs);
  fs::copy(w.ws / "server", theirs, fs::copy_options::recursive);
  auto vendored = test::run({"go", "mod", "vendor"}, {theirs, w.go_env});
  REQUIRE_MESSAGE(vendored.exit_code == 0, vendored.err);
  CHECK(!fs::exists(theirs / "vendor/example.com/greet/unused"));  // only what the sources import

  // The lock lists another platform for the step: the vendor tree is the same there, so its pin is too.
  test::write(w.ws / "akbuild.lock", R"({"version": 1, "pins": {"vendor": {"aarch64-linux": "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}}})");
  auto pinned = w.akbuild({"pin", "update", "go-build", "--id", "vendor", "--with", "directory=server", "--with", "mode=vendor"});
  INFO(pinned.out, pinned.err);
  REQUIRE(pinned.exit_code == 0);
  CHECK(w.pin("vendor") == GoWorkspace::nix_sri(theirs / "vendor"));
  CHECK(pinned.out.find("pin vendor: updated for aarch64-linux too") != std::string::npos);
  auto lock = test::read(w.ws / "akbuild.lock");
  CHECK(lock.find("sha256-AAAA") == std::string::npos);
  CHECK(lock.find("\"aarch64-linux\": \"" + w.pin("vendor") + "\"") != std::string::npos);
  CHECK(test::read(w.ws / "server/vendor/modules.txt") == test::read(theirs / "vendor/modules.txt"));

  // The vendorHash pasted from a Nix expression is the step's own hash; a build after it, with the
  // vendor dir as a dep, runs offline.
  auto same = w.akbuild({"step", "go-build", "--id", "vendored", "--with", "directory=server", "--with", "mode=vendor",
                         "--with", "hash=" + GoWorkspace::nix_sri(theirs / "vendor")});
  INFO(same.out, same.err);
  CHECK(same.exit_code == 0);
  fs::remove_all(w.proxy);
  auto built = w.akbuild({"step", "go-build", "--id", "server", "--with", "directory=server", "--with",
                          "output=bin/server", "--with", "deps=[\"vendored\"]"});
  INFO(built.out, built.err);
  REQUIRE(built.exit_code == 0);
  CHECK(test::run({(w.ws / "bin/server").string()}).out == "hello from greet\n");
}

TEST_CASE("go-build mode download pins the proxyVendor tree and a build reads it as its GOPROXY") {
  if (!test::have_program("go") || !test::have_program("nix")) return test::skip("go or nix is not installed");
  GoWorkspace w;
  // What buildGoModule's go-modules derivation outputs with proxyVendor: the download cache but
  // its checksum database.
  auto theirs = w.dir / "nix-gopath";
  auto env = w.go_env;
  env["GOPATH"] = theirs.string();
  auto downloaded = test::run({"go", "mod", "download"}, {w.ws / "server", env});
  REQUIRE_MESSAGE(downloaded.exit_code == 0, downloaded.err);
  fs::remove_all(theirs / "pkg/mod/cache/download/sumdb");

  auto pinned = w.akbuild({"pin", "update", "go-build", "--id", "modules", "--with", "directory=server", "--with", "mode=download"});
  INFO(pinned.out, pinned.err);
  REQUIRE(pinned.exit_code == 0);
  CHECK(w.pin("modules") == GoWorkspace::nix_sri(theirs / "pkg/mod/cache/download"));
  CHECK(fs::exists(w.ws / "server/.goproxy/example.com/greet/@v/v1.0.0.zip"));

  auto modules = w.akbuild({"step", "go-build", "--id", "modules", "--with", "directory=server", "--with", "mode=download"});
  INFO(modules.out, modules.err);
  CHECK(modules.exit_code == 0);
  // The build reads the modules from the pinned tree alone: the proxy they came from is gone.
  fs::remove_all(w.proxy);
  auto built = w.akbuild({"step", "go-build", "--id", "server", "--with", "directory=server", "--with",
                          "output=bin/server", "--with", "modcache=server/.goproxy", "--with", "deps=[\"modules\"]"});
  INFO(built.out, built.err);
  REQUIRE(built.exit_code == 0);
  CHECK(test::run({(w.ws / "bin/server").string()}).out == "hello from greet\n");
}
