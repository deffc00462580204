#include <doctest/doctest.h>

#include "akbuild/v1/steps.pb.h"
#include "tests/steps/kinds_support.hh"

using namespace akbuild;

TEST_CASE("fetch-git is a pinned, unsandboxed fetch of one output") {
  test::TestDir dir;
  v1::FetchGitParams p;
  p.set_url("https://github.com/goauthentik/client-go");
  p.set_ref("v3.2026.2.0");
  p.set_output("client-go");
  p.set_hash("sha256-DwXw/0QcSDYQKVhPA8tStrSoZooriQex/9FxSJtR/QY=");
  auto plan = test::plan_kind("fetch-git", p, dir.path());
  REQUIRE_MESSAGE(plan, (plan ? "" : plan.error().message));
  CHECK(plan->fetch);
  CHECK_FALSE(plan->sandboxed);
  CHECK(plan->pin == p.hash());
  CHECK(plan->outputs == std::vector<std::string>{"client-go/"});
}

TEST_CASE("fetch-git validates url, ref, rev and hash") {
  test::TestDir dir;
  v1::FetchGitParams p;
  auto error = [&] {
    auto r = test::plan_kind("fetch-git", p, dir.path());
    REQUIRE_FALSE(r);
    return r.error().message;
  };
  CHECK(error() == "fetch-git: with: url is required");
  p.set_url("--upload-pack=evil");
  CHECK(error() == "fetch-git: with: url: '--upload-pack=evil' is not a URL");
  p.set_url("https://example.com/x.git");
  CHECK(error() == "fetch-git: with: give ref (a tag or branch) or rev (a commit)");
  p.set_rev("abc");
  CHECK(error() == "fetch-git: with: rev: 'abc' is not a 40-digit commit id");
  p.set_rev(std::string(40, 'a'));
  CHECK(error() == "fetch-git: with: output is required");
  p.set_output("../x");
  CHECK(test::contains(error(), "fetch-git"));
  p.set_output("src");
  p.set_hash("sha256-short");
  CHECK(test::contains(error(), "hash"));
}
