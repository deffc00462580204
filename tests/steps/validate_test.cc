#include <doctest/doctest.h>

#include "steps/validate.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
using namespace akbuild::steps;
namespace fs = std::filesystem;

TEST_CASE("validate_output_path accepts paths inside the workspace") {
  test::TestDir dir;
  fs::create_directories(dir / "ws" / "out");
  CHECK(validate_output_path("exec", "outputs", "out/", dir / "ws"));
  CHECK(validate_output_path("exec", "outputs", "dist/app.js", dir / "ws"));
}

TEST_CASE("validate_output_path rejects absolute, '..' and symlinked paths, naming key and value") {
  test::TestDir dir;
  fs::create_directories(dir / "ws");
  fs::create_directories(dir / "elsewhere");
  fs::create_directory_symlink(dir / "elsewhere", dir / "ws" / "link");
  auto check = [&](std::string value, std::string why) {
    auto r = validate_output_path("exec", "outputs", value, dir / "ws");
    REQUIRE(!r);
    CHECK(r.error().code == ErrorCode::invalid_argument);
    CHECK(r.error().message.find("exec: with: outputs: '" + value + "' " + why) == 0);
  };
  check("/tmp/out", "is absolute");
  check("../out", "leaves the workspace through '..'");
  check("a/../../out", "leaves the workspace through '..'");
  check("link/out", "goes through the symlink 'link'");
  check("link", "goes through the symlink 'link'");
  check("a//b", "has an empty or '.' component");
}

TEST_CASE("validate_globs names the malformed glob") {
  auto r = validate_globs("exec", "inputs", {"src/**", "src/[a"});
  REQUIRE(!r);
  CHECK(r.error().message == "exec: with: inputs: glob 'src/[a': unclosed '['");
}

TEST_CASE("validate_sri accepts sha256 SRI and rejects anything else") {
  CHECK(validate_sri("exec", "hash", "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="));
  CHECK(!validate_sri("exec", "hash", "sha256-abc"));
  CHECK(!validate_sri("exec", "hash", "sha512-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="));
}
