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

TEST_CASE("PinFile keeps image digests by reference, and writes no images section without any") {
  test::TestDir dir;
  auto pins = PinFile::load(dir.path());
  REQUIRE(pins);
  pins->set("deps", "x86_64-linux", "sha256-x");
  REQUIRE(pins->save());
  CHECK(test::read(dir / "akbuild.lock").find("images") == std::string::npos);
  std::string digest = "sha256:" + std::string(64, 'a');
  pins->set_image("docker://127.0.0.1:5000/base:1", digest);
  REQUIRE(pins->save());
  auto loaded = PinFile::load(dir.path());
  REQUIRE(loaded);
  CHECK(loaded->image("docker://127.0.0.1:5000/base:1") == digest);
  CHECK(!loaded->image("docker://127.0.0.1:5000/base:2"));
  CHECK(loaded->get("deps", "x86_64-linux") == "sha256-x");
}

TEST_CASE("PinFile refuses an image pin that is not a sha256 digest, naming the reference") {
  test::TestDir dir;
  test::write(dir / "akbuild.lock", R"({"version": 1, "pins": {}, "images": {"docker://r/base:1": "latest"}})");
  auto r = PinFile::load(dir.path());
  REQUIRE(!r);
  CHECK(r.error().code == ErrorCode::invalid_argument);
  CHECK(r.error().message.find("images: docker://r/base:1: 'latest' is not a sha256:<64 hex> digest") !=
        std::string::npos);
}
