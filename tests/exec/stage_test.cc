#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include "runner/core/fs.hh"
#include "runner/exec/sandbox.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
using namespace akbuild::exec;
namespace fs = std::filesystem;

namespace {

struct stat lstat_of(const fs::path& p) {
  struct stat st{};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st;
}

} // namespace

TEST_CASE("stage_inputs hardlinks files on the same filesystem and creates parent directories") {
  test::TestDir dir;
  test::write(dir / "ws" / "src" / "a.txt", "hello");
  test::write(dir / "ws" / "run.sh", "#!/bin/sh\n", true);
  auto r = stage_inputs(dir / "root", {{"src/a.txt", dir / "ws" / "src" / "a.txt"}, {"run.sh", dir / "ws" / "run.sh"}});
  REQUIRE(r);
  CHECK(test::read(dir / "root" / "src" / "a.txt") == "hello");
  CHECK(lstat_of(dir / "root" / "src" / "a.txt").st_ino == lstat_of(dir / "ws" / "src" / "a.txt").st_ino);
  CHECK((lstat_of(dir / "root" / "run.sh").st_mode & S_IXUSR) != 0);
}

TEST_CASE("stage_inputs copies across filesystems, keeping the mode") {
  test::TestDir dir;
  if (lstat_of("/dev/shm").st_dev == lstat_of(dir.path()).st_dev) {
    return test::skip("/dev/shm is on the same filesystem as the test dir, no cross-device copy to test");
  }
  auto shm = TempDir::create("akbuild-stage-", "/dev/shm");
  REQUIRE(shm);
  test::write(shm->path() / "tool", "#!/bin/sh\necho tool\n", true);
  auto r = stage_inputs(dir / "root", {{"bin/tool", shm->path() / "tool"}});
  REQUIRE(r);
  CHECK(test::read(dir / "root" / "bin" / "tool") == "#!/bin/sh\necho tool\n");
  auto st = lstat_of(dir / "root" / "bin" / "tool");
  CHECK(S_ISREG(st.st_mode));
  CHECK((st.st_mode & S_IXUSR) != 0);
}

TEST_CASE("stage_inputs recreates symlinks verbatim and stages empty directories") {
  test::TestDir dir;
  fs::create_directories(dir / "ws" / "empty");
  fs::create_symlink("../elsewhere/target", dir / "ws" / "link");
  auto r = stage_inputs(dir / "root", {{"empty", dir / "ws" / "empty"}, {"sub/link", dir / "ws" / "link"}});
  REQUIRE(r);
  CHECK(fs::is_directory(dir / "root" / "empty"));
  CHECK(fs::is_symlink(dir / "root" / "sub" / "link"));
  CHECK(fs::read_symlink(dir / "root" / "sub" / "link") == "../elsewhere/target");
}

TEST_CASE("stage_inputs rejects paths that escape the input root") {
  test::TestDir dir;
  test::write(dir / "f", "x");
  for (std::string bad : {"../f", "/etc/f", "a/../../f", "a//b"}) {
    CAPTURE(bad);
    auto r = stage_inputs(dir / "root", {{bad, dir / "f"}});
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::invalid_argument);
    CHECK(r.error().message.find(bad) != std::string::npos);
  }
  CHECK_FALSE(fs::exists(dir / "etc"));
}

TEST_CASE("stage_inputs does not write through a staged symlink") {
  test::TestDir dir;
  fs::create_directories(dir / "outside");
  fs::create_symlink(dir / "outside", dir / "ws-link");
  test::write(dir / "f", "x");
  auto r = stage_inputs(dir / "root", {{"a", dir / "ws-link"}, {"a/f", dir / "f"}});
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("not a directory") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "outside" / "f"));
}

TEST_CASE("stage_inputs names a missing source") {
  test::TestDir dir;
  auto r = stage_inputs(dir / "root", {{"a.txt", dir / "missing.txt"}});
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("missing.txt") != std::string::npos);
}

TEST_CASE("stage_inputs_beneath stages from the workspace without following a symlink on the way") {
  test::TestDir dir;
  test::write(dir / "ws" / "src" / "a.txt", "mine");
  test::write(dir / "ws" / "sub" / "b.txt", "mine too");
  fs::create_symlink("a.txt", dir / "ws" / "src" / "link");
  test::write(dir / "host" / "secret.txt", "host secret");
  auto r = stage_inputs_beneath(dir / "root", dir / "ws", {"src/a.txt", "src/link", "sub/b.txt"});
  REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  CHECK(test::read(dir / "root" / "src" / "a.txt") == "mine");
  CHECK(fs::read_symlink(dir / "root" / "src" / "link") == "a.txt");
  CHECK(test::read(dir / "root" / "sub" / "b.txt") == "mine too");

  // The directory listed is swapped for a symlink to the host's before staging: refused, naming it.
  fs::rename(dir / "ws" / "sub", dir / "ws" / "sub-old");
  fs::create_directory_symlink(dir / "host", dir / "ws" / "sub");
  auto swapped = stage_inputs_beneath(dir / "root2", dir / "ws", {"sub/secret.txt"});
  REQUIRE_FALSE(swapped);
  CHECK_MESSAGE(swapped.error().message.find("sub") != std::string::npos, swapped.error().message);
  CHECK_FALSE(fs::exists(dir / "root2" / "sub" / "secret.txt"));
  // A listed file swapped for a symlink is staged as that symlink, never as what it points to.
  fs::remove(dir / "ws" / "src" / "a.txt");
  fs::create_symlink(dir / "host" / "secret.txt", dir / "ws" / "src" / "a.txt");
  REQUIRE(stage_inputs_beneath(dir / "root3", dir / "ws", {"src/a.txt"}));
  CHECK(fs::is_symlink(dir / "root3" / "src" / "a.txt"));
}
