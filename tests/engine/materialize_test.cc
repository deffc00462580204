#include <doctest/doctest.h>

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "runner/cas/cache_dir.hh"
#include "runner/cas/tree.hh"
#include "runner/engine/materialize.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
namespace fs = std::filesystem;

namespace {

struct Stored {
  test::TestDir dir;
  std::unique_ptr<cas::CacheDir> cache;
  cas::Digest digest;
  Stored() {
    test::write(dir / "src" / "x", "written\n");
    auto opened = cas::CacheDir::open(dir / "cache");
    REQUIRE(opened);
    cache = std::move(*opened);
    auto stored = cas::store_tree(cache->blobs(), dir / "src");
    REQUIRE(stored);
    digest = *stored;
  }
};

} // namespace

TEST_CASE("materialize_output writes the tree at its path beneath the root, replacing what was there") {
  Stored s;
  test::write(s.dir / "ws" / "d" / "out" / "old", "old\n");
  auto r = engine::materialize_output(*s.cache, s.digest, false, s.dir / "ws", "d/out/");
  REQUIRE(r);
  CHECK(*r);
  CHECK(test::read(s.dir / "ws" / "d" / "out" / "x") == "written\n");
  CHECK_FALSE(fs::exists(s.dir / "ws" / "d" / "out" / "old"));
  auto again = engine::materialize_output(*s.cache, s.digest, false, s.dir / "ws", "d/out/");
  REQUIRE(again);
  CHECK_FALSE(*again);  // already there
}

TEST_CASE("materialize_output never writes through a symlink on the way, nor outside the root") {
  Stored s;
  fs::create_directories(s.dir / "victim");
  fs::create_directories(s.dir / "ws" / "d");
  // What an earlier step's output may leave: a link out of the workspace.
  fs::create_symlink(s.dir / "victim", s.dir / "ws" / "d" / "link");
  auto r = engine::materialize_output(*s.cache, s.digest, false, s.dir / "ws", "d/link/out");
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("d/link is a symlink") != std::string::npos);
  CHECK(fs::is_empty(s.dir / "victim"));

  auto up = engine::materialize_output(*s.cache, s.digest, false, s.dir / "ws", "../escaped");
  REQUIRE_FALSE(up);
  CHECK(up.error().code == ErrorCode::invalid_argument);
  CHECK_FALSE(fs::exists(s.dir / "escaped"));
}

TEST_CASE("a tree found in place is remembered by its stat records, and any change to it is seen again") {
  Stored s;
  test::write(s.dir / "src" / "sub" / "y", "yyyy\n");
  auto stored = cas::store_tree(s.cache->blobs(), s.dir / "src");
  REQUIRE(stored);
  fs::create_directories(s.dir / "ws");
  REQUIRE(engine::materialize_output(*s.cache, *stored, false, s.dir / "ws", "out"));
  fs::path out = s.dir / "ws" / "out";
  auto present = [&] {
    auto r = engine::output_present(*s.cache, *stored, false, s.dir / "ws", "out");
    REQUIRE(r);
    return *r;
  };
  // Entries changed this recently are compared, not remembered (a write may not move a stamp yet).
  CHECK(present());
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  CHECK(present());  // compared, then remembered
  CHECK(present());  // by its fingerprint
  SUBCASE("a file replaced by one of the same size") {
    test::write(s.dir / "new", "YYYY\n");
    fs::rename(s.dir / "new", out / "sub" / "y");
    CHECK_FALSE(present());
  }
  SUBCASE("a file made executable") {
    fs::permissions(out / "x", fs::perms::owner_exec, fs::perm_options::add);
    CHECK_FALSE(present());
  }
  SUBCASE("a file written in place with the same size") {
    if (::geteuid() != 0) return;  // only root can write through the read-only link
    { std::ofstream edit(out / "x", std::ios::in | std::ios::out); edit << "WRITTEN\n"; }
    CHECK_FALSE(present());
  }
  SUBCASE("an entry added deep in the tree") {
    test::write(out / "sub" / "extra", "e\n");
    CHECK_FALSE(present());
  }
}
