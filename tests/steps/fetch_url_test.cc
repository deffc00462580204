// fetch-url: planning, then `akbuild step` and `akbuild pin update` as a user runs them, over a
// local file and a loopback HTTP server (python3 -m http.server). Real Nix is the oracle of
// every pin: `nix hash file` (fetchurl's flat hash) and `nix hash path` (fetchzip's NAR hash).
#include <doctest/doctest.h>

#include "akbuild/v1/steps.pb.h"
#include "tests/steps/kinds_support.hh"
#include "tests/support/background.hh"

using namespace akbuild;
namespace fs = std::filesystem;

namespace {

test::CommandResult step(const test::TestDir& dir, const std::vector<std::string>& with, const std::string& id = "dl") {
  std::vector<std::string> args{"step", "fetch-url", "--id", id, "-C", (dir / "ws").string()};
  for (const auto& w : with) {
    args.push_back("--with");
    args.push_back(w);
  }
  test::CommandOptions o;
  o.env["AKBUILD_EXECUTOR"] = "none";
  return test::akbuild(dir, args, o);
}

// Nix's SRI hash of `path`: `nix hash file` (flat) or `nix hash path` (NAR).
std::string nix_sri(const fs::path& path, bool flat) {
  auto r = test::run({"nix", "--extra-experimental-features", "nix-command", "hash", flat ? "file" : "path", "--sri",
                      path.string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return r.out.substr(0, r.out.find('\n'));
}

// A tree with a file, an executable, a relative symlink and an empty directory, under pkg-1.0/,
// packed as each format; the tree itself (what fetchzip leaves) at dir/expected.
void make_archives(const test::TestDir& dir) {
  test::CommandOptions o;
  o.cwd = dir.path();
  auto r = test::sh(R"(set -e
mkdir -p src/pkg-1.0/bin src/pkg-1.0/share/empty expected
printf 'hello\n' > src/pkg-1.0/README
printf '#!/bin/sh\necho tool\n' > src/pkg-1.0/bin/tool && chmod 755 src/pkg-1.0/bin/tool
ln -s ../README src/pkg-1.0/bin/readme
mkdir -p files
tar -C src -czf files/pkg.tar.gz pkg-1.0
tar -C src -cJf files/pkg.tar.xz pkg-1.0
tar -C src --zstd -cf files/pkg.tar.zst pkg-1.0
(cd src && zip -qry ../files/pkg.zip pkg-1.0)
cp -a src/pkg-1.0/. expected/
printf 'plain bytes\n' > files/plain.txt
/usr/bin/python3 - <<'EOF'
import io, tarfile
def add(t, name, data=b"x", kind=tarfile.REGTYPE, link=""):
    i = tarfile.TarInfo(name); i.type = kind; i.linkname = link; i.size = len(data) if kind == tarfile.REGTYPE else 0
    t.addfile(i, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
with tarfile.open("files/dotdot.tar.gz", "w:gz") as t:
    add(t, "pkg/ok.txt"); add(t, "pkg/../../evil.txt")
with tarfile.open("files/link.tar.gz", "w:gz") as t:
    add(t, "pkg/ok.txt"); add(t, "pkg/etc", kind=tarfile.SYMTYPE, link="../../etc")
with tarfile.open("files/two.tar.gz", "w:gz") as t:
    add(t, "a/x"); add(t, "b/y")
EOF
)",
                    o);
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
}

constexpr const char* k_zero_pin = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

} // namespace

TEST_CASE("fetch-url plans a pinned, unsandboxed fetch: a file output, or a directory when unpacking") {
  test::TestDir dir;
  v1::FetchUrlParams p;
  p.set_url("https://example.com/node.tgz");
  p.set_output("vendor/node.tgz");
  auto flat = test::plan_kind("fetch-url", p, dir.path());
  REQUIRE_MESSAGE(flat, (flat ? "" : flat.error().message));
  CHECK(flat->fetch);
  CHECK(flat->pin_flat);
  CHECK_FALSE(flat->pin_any_platform);  // a URL is often chosen per platform
  CHECK_FALSE(flat->sandboxed);
  CHECK(flat->outputs == std::vector<std::string>{"vendor/node.tgz"});
  p.set_unpack(true);
  p.set_output("toolchains/node");
  p.set_hash("sha256-W52alFBhwDk82lBF+n3j67gsGQc+ZZx+8O5sECqeOVg=");
  auto tree = test::plan_kind("fetch-url", p, dir.path());
  REQUIRE(tree);
  CHECK_FALSE(tree->pin_flat);
  CHECK(tree->pin == p.hash());
  CHECK(tree->outputs == std::vector<std::string>{"toolchains/node/"});
}

TEST_CASE("fetch-url names the with: key at fault") {
  test::TestDir dir;
  v1::FetchUrlParams p;
  auto error = [&] {
    auto r = test::plan_kind("fetch-url", p, dir.path());
    REQUIRE_FALSE(r);
    return r.error().message;
  };
  CHECK(error() == "fetch-url: with: url is required");
  p.set_url("ftp://example.com/x.tgz");
  CHECK(error() == "fetch-url: with: url: 'ftp://example.com/x.tgz' is not an http(s) or file URL, nor a path");
  p.set_url("file://relative");
  CHECK(test::contains(error(), "not a file:// URL of an absolute path"));
  p.set_url("https://example.com/x.tgz");
  CHECK(error() == "fetch-url: with: output is required");
  p.set_output("out/");
  CHECK(test::contains(error(), "without unpack the output is a file"));
  p.set_output("../x");
  CHECK(test::contains(error(), "leaves the workspace"));
  p.set_output("x");
  p.set_keep_root(true);
  CHECK(test::contains(error(), "keep-root applies to an unpacked archive"));
  p.set_keep_root(false);
  p.set_hash("sha256-short");
  CHECK(test::contains(error(), "hash"));
}

TEST_CASE("fetch-url fetches a local file flat and each archive format unpacked, with Nix's hashes") {
  if (!test::have_program("nix") || !test::have_program("zip") || !test::have_program("zstd"))
    return test::skip("needs nix, zip and zstd");
  test::TestDir dir;
  fs::create_directories(dir / "ws");
  make_archives(dir);

  // Flat: fetchurl's hash is the sha256 of the bytes, which a NAR hash is not.
  std::string flat = nix_sri(dir / "files/plain.txt", true);
  CHECK(flat != nix_sri(dir / "files/plain.txt", false));
  auto got = step(dir, {"url=file://" + (dir / "files/plain.txt").string(), "output=vendor/plain.txt", "hash=" + flat});
  REQUIRE_MESSAGE(got.exit_code == 0, (got.out + got.err));
  CHECK(test::read(dir / "ws/vendor/plain.txt") == "plain bytes\n");

  std::string tree = nix_sri(dir / "expected", false);
  for (const char* name : {"pkg.tar.gz", "pkg.tar.xz", "pkg.tar.zst", "pkg.zip"}) {
    CAPTURE(name);
    fs::remove_all(dir / "ws/pkg");
    // A path relative to the workspace is a URL too.
    auto r = step(dir, {"url=../files/" + std::string(name), "unpack=true", "output=pkg", "hash=" + tree},
                  std::string("pkg-") + (name + 4));
    REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
    CHECK(test::read(dir / "ws/pkg/README") == "hello\n");
    CHECK(fs::is_symlink(dir / "ws/pkg/bin/readme"));
    CHECK(fs::is_directory(dir / "ws/pkg/share/empty"));
    CHECK((fs::status(dir / "ws/pkg/bin/tool").permissions() & fs::perms::owner_exec) != fs::perms::none);
  }
  // keep-root keeps pkg-1.0/ (another tree, another hash).
  auto kept = step(dir, {"url=../files/pkg.tar.gz", "unpack=true", "keep-root=true", "output=kept", "hash=" + tree});
  CHECK(kept.exit_code != 0);
  CHECK(test::contains(kept.out + kept.err, "hash mismatch"));
}

TEST_CASE("fetch-url refuses `..` entries, escaping links and several top directories, leaving no output") {
  test::TestDir dir;
  fs::create_directories(dir / "ws");
  make_archives(dir);
  struct Case {
    const char* file;
    const char* message;
  };
  for (auto c : {Case{"dotdot.tar.gz", "pkg/../../evil.txt: `..` refused"},
                 Case{"link.tar.gz", "pkg/etc: symlink to '../../etc' leaves the archive's tree"},
                 Case{"two.tar.gz", "the archive holds 2 top-level entries"}}) {
    CAPTURE(c.file);
    auto r = step(dir, {"url=" + (dir / "files" / c.file).string(), "unpack=true", "output=out", "hash=" + std::string(k_zero_pin)});
    CHECK(r.exit_code != 0);
    CHECK_MESSAGE(test::contains(r.out + r.err, c.message), (r.out + r.err));
    CHECK_FALSE(fs::exists(dir / "ws/out"));
    CHECK_FALSE(fs::exists(dir / "evil.txt"));
    CHECK_FALSE(fs::exists(dir / "ws/evil.txt"));
  }
  // Nothing of those runs is left beside the workspace or in the cache's run dirs.
  for (const auto& e : fs::directory_iterator(dir / "ws")) CHECK(e.path().filename() != ".fetch-url-");
  auto missing = step(dir, {"url=" + (dir / "files/none.tgz").string(), "output=x", "hash=" + std::string(k_zero_pin)});
  CHECK(missing.exit_code != 0);
  CHECK(test::contains(missing.out + missing.err, "none.tgz: no such file"));
}

TEST_CASE("fetch-url over HTTP: pin update records Nix's hashes, a changed file fails with both and the hint") {
  if (!test::have_program("nix")) return test::skip("needs nix");
  test::TestDir dir;
  make_archives(dir);
  int port = test::free_port();
  test::BackgroundProcess server(dir, "exec /usr/bin/python3 -m http.server " + std::to_string(port) +
                                          " --bind 127.0.0.1 --directory '" + (dir / "files").string() + "'",
                                 "http");
  test::BackgroundProcess::wait_for_port(port);
  std::string base = "http://127.0.0.1:" + std::to_string(port) + "/";
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"yml(on: push
jobs:
  fetch:
    runs-on: host
    steps:
      - id: plain
        uses: akbuild/step@v1
        with:
          kind: fetch-url
          url: )yml" + base + R"yml(plain.txt
          output: vendor/plain.txt
      - id: pkg
        uses: akbuild/step@v1
        with:
          kind: fetch-url
          url: )yml" + base + R"yml(pkg.tar.gz
          unpack: true
          output: vendor/pkg
      - run: test "$(cat vendor/pkg/README)" = hello
)yml");
  test::CommandOptions o;
  o.env["AKBUILD_EXECUTOR"] = "none";
  auto update = test::akbuild(dir, {"pin", "update", "-C", (dir / "ws").string()}, o);
  REQUIRE_MESSAGE(update.exit_code == 0, (update.out + update.err));
  auto lock = test::read(dir / "ws/akbuild.lock");
  CHECK_MESSAGE(test::contains(lock, nix_sri(dir / "files/plain.txt", true)), lock);
  CHECK_MESSAGE(test::contains(lock, nix_sri(dir / "expected", false)), lock);

  auto act = test::akbuild(dir, {"act", "-C", (dir / "ws").string()}, o);
  REQUIRE_MESSAGE(act.exit_code == 0, (act.out + act.err));
  CHECK(test::read(dir / "ws/vendor/plain.txt") == "plain bytes\n");

  // The server's file changes under a pin in akbuild.lock (a fresh cache: the pin is the key):
  // the fetch fails naming both hashes and the command that records the new one, and leaves no
  // output of its own.
  test::write(dir / "files/plain.txt", "other bytes\n");
  test::write(dir / "ws2/akbuild.lock",
              std::string(R"({"version": 1, "pins": {"dl": {"x86_64-linux": ")") + k_zero_pin + "\"}}}\n");
  o.env["AKBUILD_CACHE_DIR"] = (dir / "cache2").string();
  auto moved = test::akbuild(dir, {"step", "fetch-url", "--id", "dl", "-C", (dir / "ws2").string(), "--with",
                                   "url=" + base + "plain.txt", "--with", "output=plain.txt"}, o);
  std::string all = moved.out + moved.err;
  CHECK(moved.exit_code != 0);
  CHECK_MESSAGE(test::contains(all, std::string("specified: ") + k_zero_pin), all);
  CHECK_MESSAGE(test::contains(all, "got:       " + nix_sri(dir / "files/plain.txt", true)), all);
  CHECK_MESSAGE(test::contains(all, "`akbuild pin update fetch-url -C " + (dir / "ws2").string() + " --with url="), all);
  CHECK_MESSAGE(test::contains(all, " --id dl`"), all);
  CHECK_FALSE(fs::exists(dir / "ws2/plain.txt"));
}
