#include <doctest/doctest.h>

#include "akbuild/v1/steps.pb.h"
#include "steps/go_build/go_mod.hh"
#include "tests/steps/kinds_support.hh"

using namespace akbuild;
namespace fs = std::filesystem;

TEST_CASE("go-build reads the authentik go.mod and go.sum and keys the download by them only") {
  auto fixtures = test::fixtures_dir();
  REQUIRE(fixtures);
  auto mod = steps::go::GoMod::load(*fixtures / "authentik/go.mod", "go.mod");
  REQUIRE_MESSAGE(mod, (mod ? "" : mod.error().message));
  CHECK(mod->module == "goauthentik.io");
  CHECK(mod->go_version == "1.25.5");
  CHECK(mod->requirements.size() == 92);
  CHECK(std::count_if(mod->requirements.begin(), mod->requirements.end(), [](auto& r) { return !r.indirect; }) == 35);
  CHECK(steps::go::check_sum(*mod, *fixtures / "authentik/go.sum", "go.sum"));

  test::TestDir dir;
  fs::copy_file(*fixtures / "authentik/go.mod", dir / "go.mod");
  fs::copy_file(*fixtures / "authentik/go.sum", dir / "go.sum");
  v1::GoBuildParams p;
  p.set_mode("download");
  auto plan = test::plan_kind("go-build", p, dir.path());
  REQUIRE_MESSAGE(plan, (plan ? "" : plan.error().message));
  CHECK(plan->fetch);
  CHECK(plan->inputs == std::vector<std::string>{"go.mod", "go.sum"});
  CHECK(plan->outputs == std::vector<std::string>{".goproxy/"});
  SUBCASE("a build of it needs the module cache") {
    v1::GoBuildParams b;
    b.add_packages("./cmd/server");
    auto r = test::plan_kind("go-build", b, dir.path());
    REQUIRE_FALSE(r);
    CHECK(test::contains(r.error().message, "go.mod requires 92 modules: give modcache"));
    b.set_modcache(".goproxy");
    b.add_deps("go-mod");
    (*b.mutable_replace())["goauthentik.io/api/v3"] = "gen-go-api";
    auto ok = test::plan_kind("go-build", b, dir.path());
    REQUIRE_MESSAGE(ok, (ok ? "" : ok.error().message));
    CHECK(ok->outputs == std::vector<std::string>{"bin/goauthentik.io"});
    CHECK(ok->env.at("CGO_ENABLED") == "0");
    CHECK_FALSE(ok->fetch);
  }
}

TEST_CASE("go-build rejects a go.sum out of sync with go.mod, naming the module") {
  test::TestDir dir;
  test::write(dir / "go.mod", "module example.com/x\n\ngo 1.19\n\nrequire (\n\tgolang.org/x/text v0.3.0 // indirect\n\texample.com/y v1.2.3\n)\n");
  test::write(dir / "go.sum", "golang.org/x/text v0.3.0/go.mod h1:NqM8EUOU14njkJ3fqMW+pc6Ldnwhi/IjpwHt7yyuwOQ=\n");
  v1::GoBuildParams p;
  p.set_mode("download");
  auto r = test::plan_kind("go-build", p, dir.path());
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "go-build: go.sum is out of sync with go.mod: no hash for example.com/y v1.2.3 (run `go mod tidy`)");
  fs::remove(dir / "go.sum");
  auto missing = test::plan_kind("go-build", p, dir.path());
  REQUIRE_FALSE(missing);
  CHECK(test::contains(missing.error().message, "go.sum: no such file, but go.mod requires 2 modules"));
}

TEST_CASE("go-build reports go.mod syntax errors with the line") {
  auto r = steps::go::GoMod::parse("module x\nrequire (\n  a.b/c\n)\n", "go.mod");
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "go.mod:3: usage: require PATH VERSION");
  auto none = steps::go::GoMod::parse("go 1.19\n", "go.mod");
  REQUIRE_FALSE(none);
  CHECK(none.error().message == "go.mod: no module directive");
}

TEST_CASE("go-build validates mode-specific parameters") {
  test::TestDir dir;
  test::write(dir / "server/go.mod", "module example.com/stack/server\n\ngo 1.19\n");
  v1::GoBuildParams p;
  p.set_directory("server");
  SUBCASE("an unknown mode") {
    p.set_mode("install");
    auto r = test::plan_kind("go-build", p, dir.path());
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "go-build: with: mode: 'install' is not build, download or vendor");
  }
  SUBCASE("ldflags do not key a download") {
    p.set_mode("download");
    p.set_ldflags("-s -w");
    auto r = test::plan_kind("go-build", p, dir.path());
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "go-build: with: ldflags does not apply to mode download");
  }
  SUBCASE("a std-only build needs no module cache") {
    p.set_output("out/server");
    auto r = test::plan_kind("go-build", p, dir.path());
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    CHECK(r->outputs == std::vector<std::string>{"out/server"});
    CHECK(r->inputs.front() == "server/**/*.go");
  }
  SUBCASE("go is not on PATH") {
    fs::create_directories(dir / "empty-bin");
    test::ScopedPath path((dir / "empty-bin").string());
    auto r = test::plan_kind("go-build", p, dir.path());
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "go-build: go not found on PATH (install the Debian package golang-go)");
  }
}
