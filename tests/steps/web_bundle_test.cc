#include <doctest/doctest.h>

#include "akbuild/v1/steps.pb.h"
#include "steps/web_bundle/web_bundle_step.hh"
#include "tests/steps/kinds_support.hh"

using namespace akbuild;

TEST_CASE("web-bundle keys its sources, declared env and links, not node_modules or dist") {
  test::TestDir dir;
  v1::WebBundleParams p;
  p.set_directory("web");
  p.add_commands("esbuild src/main.ts --bundle --outdir=dist");
  p.add_deps("web-deps");
  p.add_deps("client-ts");
  (*p.mutable_env())["NODE_ENV"] = "production";
  (*p.mutable_link())["@example/api"] = "gen/ts";
  auto plan = test::plan_kind("web-bundle", p, dir.path());
  REQUIRE_MESSAGE(plan, (plan ? "" : plan.error().message));
  CHECK(plan->outputs == std::vector<std::string>{"web/dist/"});
  CHECK(plan->inputs.front() == "web/src/**");
  CHECK(std::find(plan->exclude.begin(), plan->exclude.end(), "web/node_modules/**") != plan->exclude.end());
  CHECK(plan->env.at("NODE_ENV") == "production");
  CHECK(plan->extra_key_lines == std::vector<std::string>{"link: @example/api -> gen/ts"});
}

TEST_CASE("web-bundle validates script, commands, links and outputs") {
  test::TestDir dir;
  v1::WebBundleParams p;
  auto error = [&] {
    auto r = test::plan_kind("web-bundle", p, dir.path());
    REQUIRE_FALSE(r);
    return r.error().message;
  };
  CHECK(error() == "web-bundle: with: give one of script (an npm script) or commands");
  p.set_script("build; rm -rf /");
  CHECK(error() == "web-bundle: with: script: 'build; rm -rf /' is not an npm script name");
  p.set_script("build");
  (*p.mutable_link())["Not A Name"] = "gen/ts";
  CHECK(error() == "web-bundle: with: link: 'Not A Name' is not an npm package name");
  p.clear_link();
  (*p.mutable_link())["@example/api"] = "../outside";
  CHECK(error() == "web-bundle: with: link: '../outside' leaves the workspace");
  CHECK(steps::valid_npm_name("@goauthentik/api"));
  CHECK(steps::valid_npm_name("lit"));
  CHECK_FALSE(steps::valid_npm_name("@/x"));
}
