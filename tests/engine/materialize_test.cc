#include <doctest/doctest.h>

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
