#include <doctest/doctest.h>

#include "runner/engine/pins.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
using namespace akbuild::engine;

TEST_CASE("PinFile round-trips pins per step id and platform") {
  test::TestDir dir;
  auto empty = PinFile::load(dir.path());
  REQUIRE(empty);
  CHECK(!empty->get("deps", "x86_64-linux"));
  empty->set("deps", "x86_64-linux", "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
  empty->set("deps", "aarch64-linux", "sha256-x");
  REQUIRE(empty->save());
  auto loaded = PinFile::load(dir.path());
  REQUIRE(loaded);
  CHECK(loaded->get("deps", "x86_64-linux") == "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
  CHECK(test::read(dir / "akbuild.lock").find("\"version\": 1") != std::string::npos);
}

TEST_CASE("PinFile names a malformed akbuild.lock") {
  test::TestDir dir;
  test::write(dir / "akbuild.lock", "{not json");
  auto r = PinFile::load(dir.path());
  REQUIRE(!r);
  CHECK(r.error().code == ErrorCode::invalid_argument);
  CHECK(r.error().message.find("akbuild.lock") != std::string::npos);
}
