#include <doctest/doctest.h>

#include "akbuild/v1/steps.pb.h"
#include "steps/node_deps/package_lock.hh"
#include "tests/steps/kinds_support.hh"

using namespace akbuild;
namespace fs = std::filesystem;

namespace {

const char* k_lock = R"({"name":"web","lockfileVersion":3,"requires":true,"packages":{
  "":{"name":"web","workspaces":["packages/*"],"dependencies":{"lit":"^3.0.0"},"devDependencies":{"esbuild":"^0.28.0"}},
  "node_modules/lit":{"version":"3.3.3","resolved":"https://registry.npmjs.org/lit/-/lit-3.3.3.tgz","integrity":"sha512-x"},
  "node_modules/@web/sfe":{"resolved":"packages/sfe","link":true},
  "packages/sfe":{"name":"@web/sfe","version":"1.0.0"}}})";

void write_project(const test::TestDir& dir, std::string_view package_json = R"({"name":"web","dependencies":{"lit":"^3.0.0"},"devDependencies":{"esbuild":"^0.28.0"}})") {
  test::write(dir / "web/package.json", package_json);
  test::write(dir / "web/package-lock.json", k_lock);
  test::write(dir / "web/packages/sfe/package.json", R"({"name":"@web/sfe","version":"1.0.0"})");
}

} // namespace

TEST_CASE("node-deps plans npm ci over the lockfile and every workspace manifest") {
  test::TestDir dir;
  write_project(dir);
  v1::NodeDepsParams p;
  p.set_directory("web");
  auto plan = test::plan_kind("node-deps", p, dir.path());
  REQUIRE_MESSAGE(plan, (plan ? "" : plan.error().message));
  CHECK(plan->fetch);
  CHECK(plan->inputs == std::vector<std::string>{"web/package.json", "web/package-lock.json", "web/packages/sfe/package.json"});
  CHECK(plan->outputs == std::vector<std::string>{"web/node_modules/", "web/packages/sfe/node_modules/"});
  CHECK(std::find(plan->tools.begin(), plan->tools.end(), "npm") != plan->tools.end());
}

TEST_CASE("node-deps reads the authentik web lockfile") {
  auto fixtures = test::fixtures_dir();
  REQUIRE(fixtures);
  auto lock = steps::node::PackageLock::load(*fixtures / "authentik/web", "web");
  REQUIRE_MESSAGE(lock, (lock ? "" : lock.error().message));
  CHECK(lock->lockfile_version == 3);
  CHECK(lock->name == "@goauthentik/web");
  CHECK(lock->entries == 1358);
  CHECK(lock->workspaces.size() == 5);
  CHECK(lock->root_dependencies.count("lit") == 1);
  // Planned as a project whose package.json lists what the lock's root entry lists.
  test::TestDir dir;
  fs::copy_file(*fixtures / "authentik/web/package-lock.json", dir / "package-lock.json");
  test::write(dir / "package.json", R"({"name":"@goauthentik/web","dependencies":{"lit":"*","@codemirror/lang-css":"*"}})");
  for (const auto& ws : lock->workspaces) test::write(dir / ws / "package.json", "{}");
  v1::NodeDepsParams p;
  auto plan = test::plan_kind("node-deps", p, dir.path());
  REQUIRE_MESSAGE(plan, (plan ? "" : plan.error().message));
  CHECK(plan->outputs.size() == 6);
}

TEST_CASE("node-deps rejects a missing, old or out-of-sync lockfile with one clear line") {
  test::TestDir dir;
  v1::NodeDepsParams p;
  p.set_directory("web");
  SUBCASE("missing") {
    test::write(dir / "web/package.json", "{}");
    auto plan = test::plan_kind("node-deps", p, dir.path());
    REQUIRE_FALSE(plan);
    CHECK(plan.error().message == "node-deps: web/package-lock.json: no such file (run `npm install` to create the lockfile)");
  }
  SUBCASE("lockfileVersion 1") {
    test::write(dir / "web/package.json", "{}");
    test::write(dir / "web/package-lock.json", R"({"lockfileVersion":1,"dependencies":{}})");
    auto plan = test::plan_kind("node-deps", p, dir.path());
    REQUIRE_FALSE(plan);
    CHECK(test::contains(plan.error().message, "web/package-lock.json: lockfileVersion 1 is not supported (need 2 or 3"));
  }
  SUBCASE("out of sync") {
    write_project(dir, R"({"name":"web","dependencies":{"lit":"^3.0.0","rollup":"^4"}})");
    auto plan = test::plan_kind("node-deps", p, dir.path());
    REQUIRE_FALSE(plan);
    CHECK(plan.error().code == ErrorCode::failed_precondition);
    CHECK(plan.error().message ==
          "node-deps: web/package-lock.json is out of sync with web/package.json: rollup not in the lockfile (run `npm install`)");
  }
  SUBCASE("invalid JSON") {
    test::write(dir / "web/package.json", "{}");
    test::write(dir / "web/package-lock.json", "{\"lockfileVersion\": 3,");
    auto plan = test::plan_kind("node-deps", p, dir.path());
    REQUIRE_FALSE(plan);
    CHECK(test::contains(plan.error().message, "web/package-lock.json: invalid JSON at byte"));
  }
  CHECK_FALSE(fs::exists(dir / "web/node_modules"));
}

TEST_CASE("node-deps names npm and its package when npm is not on PATH") {
  test::TestDir dir;
  write_project(dir);
  fs::create_directories(dir / "empty-bin");
  test::ScopedPath path((dir / "empty-bin").string());
  v1::NodeDepsParams p;
  p.set_directory("web");
  auto plan = test::plan_kind("node-deps", p, dir.path());
  REQUIRE_FALSE(plan);
  CHECK(plan.error().message == "node-deps: npm not found on PATH (install the Debian package npm)");
}
