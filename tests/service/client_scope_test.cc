// runner/service/client_scope: what a job environment's client may name.
#include "runner/service/client_scope.hh"

#include <doctest/doctest.h>
#include <unistd.h>

#include "tests/support/test_support.hh"

namespace akbuild::service {

namespace {

ErrorCode code_of(const Result<>& r) { return r ? ErrorCode::internal : r.error().code; }

} // namespace

TEST_CASE("check_within admits the environment and the real directories and files below it") {
  test::TestDir dir;
  test::write(dir / "env/root/ws/f", "x");
  ClientScope scope{dir / "env"};
  CHECK(check_within(scope, "workspace", (dir / "env").string(), true));
  CHECK(check_within(scope, "workspace", (dir / "env/root/ws").string(), true));
  CHECK(check_within(scope, "workspace", (dir / "env/root/ws/").string(), true));
  CHECK(check_within(scope, "path", (dir / "env/root/ws/f").string(), false));
}

TEST_CASE("check_within denies paths outside the environment, through a symlink, or with dot components") {
  test::TestDir dir;
  test::write(dir / "env/root/f", "x");
  test::write(dir / "other/root/f", "x");
  REQUIRE(::symlink((dir / "other").c_str(), (dir / "env/root/out").c_str()) == 0);
  REQUIRE(::symlink((dir / "other/root/f").c_str(), (dir / "env/root/file-link").c_str()) == 0);
  ClientScope scope{dir / "env"};
  SUBCASE("another environment") {
    auto r = check_within(scope, "workspace", (dir / "other/root").string(), true);
    CHECK(code_of(r) == ErrorCode::permission_denied);
    CHECK(r.error().message.find("workspace " + (dir / "other/root").string() + ": outside") == 0);
  }
  SUBCASE("a sibling whose name starts with the environment's") {
    test::write(dir / "env2/f", "x");
    CHECK(code_of(check_within(scope, "workspace", (dir / "env2").string(), true)) == ErrorCode::permission_denied);
  }
  SUBCASE("/etc") { CHECK(code_of(check_within(scope, "workspace", "/etc", true)) == ErrorCode::permission_denied); }
  SUBCASE("a directory symlink inside the environment pointing out") {
    CHECK(code_of(check_within(scope, "workspace", (dir / "env/root/out/root").string(), true)) ==
          ErrorCode::permission_denied);
    CHECK(code_of(check_within(scope, "workspace", (dir / "env/root/out").string(), true)) ==
          ErrorCode::permission_denied);
    CHECK(code_of(check_within(scope, "path", (dir / "env/root/out/root/f").string(), false)) ==
          ErrorCode::permission_denied);
  }
  SUBCASE("a file symlink") {
    CHECK(code_of(check_within(scope, "path", (dir / "env/root/file-link").string(), false)) ==
          ErrorCode::permission_denied);
  }
  SUBCASE("dot-dot, even when it would come back inside") {
    CHECK(code_of(check_within(scope, "workspace", (dir / "env/root/../../other/root").string(), true)) ==
          ErrorCode::permission_denied);
    CHECK(code_of(check_within(scope, "workspace", (dir / "env/root/out/../root").string(), true)) ==
          ErrorCode::permission_denied);
  }
  SUBCASE("a relative path") {
    CHECK(code_of(check_within(scope, "workspace", "env/root", true)) == ErrorCode::permission_denied);
  }
}

TEST_CASE("lexically_within is by the text of the path") {
  ClientScope scope{"/state/envs/env-1"};
  CHECK(lexically_within(scope, "/state/envs/env-1"));
  CHECK(lexically_within(scope, "/state/envs/env-1/root/ws"));
  CHECK_FALSE(lexically_within(scope, "/state/envs/env-10"));
  CHECK_FALSE(lexically_within(scope, "/state/envs/env-1/../env-2"));
  CHECK_FALSE(lexically_within(scope, "/etc"));
}

} // namespace akbuild::service
