#include <doctest/doctest.h>

#include "akbuild/v1/steps.pb.h"
#include "steps/params.hh"
#include "steps/registry.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
using namespace akbuild::steps;

namespace {
Result<StepPlan> plan_exec(const WithMap& with, const std::filesystem::path& ws) {
  const StepKind* step = *find_kind("exec");
  auto params = AK_TRY(parse_params(step->params_prototype(), with, "exec"));
  return step->plan(*params, PlanContext{"exec", ws, "x86_64-linux", {}, false});
}
} // namespace

TEST_CASE("find_kind knows exec and lists the kinds for an unknown one") {
  REQUIRE(find_kind("exec"));
  auto r = find_kind("nope");
  REQUIRE(!r);
  CHECK(r.error().code == ErrorCode::invalid_argument);
  CHECK(r.error().message.find("unknown step kind 'nope' (kinds: exec") == 0);
}

TEST_CASE("exec plan declares inputs, outputs, env, deps and keys bash for a run: script") {
  test::TestDir dir;
  auto plan = plan_exec({{"run", "make"}, {"inputs", "src/**"}, {"exclude", "src/gen/"}, {"outputs", "out/"},
                         {"env", "A=1"}, {"deps", "gen"}, {"tools", "make"}, {"timeout_seconds", "9"}},
                        dir.path());
  REQUIRE_MESSAGE(plan, (plan ? "" : plan.error().message));
  CHECK(plan->inputs == std::vector<std::string>{"src/**"});
  CHECK(plan->exclude == std::vector<std::string>{"src/gen/"});
  CHECK(plan->outputs == std::vector<std::string>{"out/"});
  CHECK(plan->deps == std::vector<std::string>{"gen"});
  CHECK(plan->tools == std::vector<std::string>{"make", "bash"});
  CHECK(plan->env.at("A") == "1");
  CHECK(plan->timeout_seconds == 9);
  CHECK(!plan->fetch);
}

TEST_CASE("exec with a hash is a pinned fetch step") {
  test::TestDir dir;
  auto plan = plan_exec({{"command", "fetch\nurl"}, {"outputs", "vendor/"},
                         {"hash", "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}},
                        dir.path());
  REQUIRE(plan);
  CHECK(plan->fetch);
  CHECK(plan->pin == "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
  CHECK(plan->tools.empty());
}

TEST_CASE("exec plan rejects bad input with the key and value named") {
  test::TestDir dir;
  auto err = [&](const WithMap& with) {
    auto r = plan_exec(with, dir.path());
    REQUIRE(!r);
    CHECK(r.error().code == ErrorCode::invalid_argument);
    return r.error().message;
  };
  CHECK(err({}) == "exec: with: one of run or command is required");
  CHECK(err({{"run", "x"}, {"command", "y"}}).find("exclude each other") != std::string::npos);
  CHECK(err({{"run", "x"}, {"inputs", "{a,b"}}) == "exec: with: inputs: glob '{a,b': unclosed '{'");
  CHECK(err({{"run", "x"}, {"outputs", "/abs"}}).find("exec: with: outputs: '/abs' is absolute") == 0);
  CHECK(err({{"run", "x"}, {"working_directory", "../up"}}).find("working_directory: '../up'") != std::string::npos);
  CHECK(err({{"run", "x"}, {"hash", "md5-zzz"}, {"outputs", "o"}}).find("hash: 'md5-zzz'") != std::string::npos);
  CHECK(err({{"run", "x"}, {"fetch", "true"}}).find("needs outputs") != std::string::npos);
}
