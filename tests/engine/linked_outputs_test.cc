// Outputs as `akbuild step` and `akbuild act` users see them: what a hit writes into the
// workspace (copies with the tree's modes), what an edit there does to the cache (nothing), and
// what a sandboxed step may do to a dependency output staged as links to the CAS.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <fstream>

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

} // namespace

TEST_CASE("a hit restores output files as writable copies with the tree's modes, never links to their blobs") {
  test::TestDir dir;
  fs::create_directories(dir / "ws");
  std::string run = "mkdir -p out/d; echo data > out/d/f.txt; printf '#!/bin/sh\\n' > out/run.sh; chmod +x out/run.sh";
  REQUIRE(step(dir, run).exit_code == 0);
  fs::remove_all(dir / "ws" / "out");
  auto hit = step(dir, run);
  INFO(hit.out, hit.err);
  REQUIRE(contains(hit.out, "hit"));
  // What later steps key and images layer is the tree's modes, as on a miss and in a staged dep.
  auto file = stat_of(dir / "ws" / "out" / "d" / "f.txt");
  CHECK(file.st_ino != stat_of(blob_of(dir, "data\n")).st_ino);
  CHECK((file.st_mode & 07777) == 0644);
  auto exe = stat_of(dir / "ws" / "out" / "run.sh");
  CHECK(exe.st_ino != stat_of(blob_of(dir, "#!/bin/sh\n")).st_ino);
  CHECK((exe.st_mode & 07777) == 0755);
  CHECK((stat_of(dir / "ws" / "out" / "d").st_mode & 07777) == 0755);
}

TEST_CASE("editing a materialized output in place, as root, never reaches the cached blob or a later hit") {
  test::TestDir dir;
  fs::create_directories(dir / "ws");
  std::string run = "mkdir -p out; echo precious > out/p.txt; echo \"$RANDOM\" > out/run-id";
  REQUIRE(step(dir, run).exit_code == 0);
  auto first_run = test::read(dir / "ws" / "out" / "run-id");
  { std::ofstream edit(dir / "ws" / "out" / "p.txt", std::ios::app); edit << "edited\n"; }
  CHECK(test::read(blob_of(dir, "precious\n")) == "precious\n");

  fs::remove_all(dir / "ws" / "out");
  auto again = step(dir, run);
  INFO(again.out, again.err);
  CHECK(again.exit_code == 0);
  CHECK(contains(again.out, "hit"));
  CHECK(test::read(dir / "ws" / "out" / "p.txt") == "precious\n");
  CHECK(test::read(dir / "ws" / "out" / "run-id") == first_run);
  auto verify = test::akbuild(dir, {"cache", "verify"});
  INFO(verify.out, verify.err);
  CHECK(verify.exit_code == 0);
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
