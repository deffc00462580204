#include <doctest/doctest.h>

#include "runner/workflow/env_files.hh"
#include "runner/workflow/matrix.hh"
#include "runner/workflow/workflow.hh"

using namespace akbuild;
using namespace akbuild::workflow;

namespace {

Error parse_error(const std::string& yaml) {
  auto r = parse_workflow(yaml, "ci.yml");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == ErrorCode::invalid_argument);
  return r.error();
}

} // namespace

TEST_CASE("A workflow's jobs, steps, matrix and defaults are read as written") {
  auto wf = parse_workflow(R"(
name: CI
on: [push, pull_request]
env: {A: "1"}
defaults:
  run: {shell: sh, working-directory: src}
jobs:
  build:
    name: Build it
    runs-on: ubuntu-latest
    strategy:
      fail-fast: false
      max-parallel: 2
      matrix:
        os: [linux, mac]
        v: [1, "2"]
    outputs: {tag: "${{ steps.t.outputs.tag }}"}
    steps:
      - uses: actions/checkout@v4
      - id: t
        name: Tag
        run: echo tag=v1 >> "$GITHUB_OUTPUT"
        env: {B: "${{ env.A }}"}
        continue-on-error: true
        timeout-minutes: 5
        if: github.event_name == 'push'
      - uses: akbuild/step@v1
        with: {kind: exec, command: "true"}
  test:
    needs: build
    runs-on: self-hosted
    steps: [{run: "echo ${{ needs.build.outputs.tag }}"}]
)", "ci.yml");
  REQUIRE_MESSAGE(wf.has_value(), wf.error().message);
  CHECK(wf->name == "CI");
  CHECK(wf->events == std::vector<std::string>{"push", "pull_request"});
  CHECK(wf->defaults.shell == "sh");
  CHECK(wf->defaults.working_directory == "src");
  REQUIRE(wf->jobs.size() == 2);
  const Job& b = wf->jobs[0];
  CHECK(b.id == "build");
  CHECK(b.name == "Build it");
  CHECK(b.strategy.fail_fast == false);
  CHECK(b.strategy.max_parallel == 2.0);
  CHECK(b.strategy.matrix["v"][0] == 1.0);
  CHECK(b.strategy.matrix["v"][1] == "2");
  CHECK(b.outputs["tag"] == "${{ steps.t.outputs.tag }}");
  REQUIRE(b.steps.size() == 3);
  CHECK(b.steps[1].id == "t");
  CHECK(b.steps[1].continue_on_error == true);
  CHECK(b.steps[1].timeout_minutes == 5.0);
  CHECK(b.steps[1].condition == "github.event_name == 'push'");
  CHECK(b.steps[1].env["B"] == "${{ env.A }}");
  CHECK(b.steps[2].with["kind"] == "exec");
  CHECK(b.steps[1].location.line == 20);
  CHECK(wf->jobs[1].needs == std::vector<std::string>{"build"});
  CHECK(job_stages(*wf) == std::vector<std::vector<std::string>>{{"build"}, {"test"}});
}

TEST_CASE("Malformed YAML is reported with file, line and column") {
  auto e = parse_error("on: push\njobs:\n  a:\n    runs-on: x\n    steps: [ {run: a}\n");
  CHECK(e.message.starts_with("ci.yml:6:1: "));
  auto tab = parse_error("on: push\njobs:\n  a: {runs-on: x, steps: [{run: \"unterminated}]}\n");
  CHECK_MESSAGE(tab.message.starts_with("ci.yml:4:1: "), tab.message);
}

TEST_CASE("Structural faults name the job and where it is") {
  CHECK(parse_error("on: push\njobs:\n  a:\n    steps: [{run: x}]\n").message ==
        "ci.yml:4:5: job 'a' has no 'runs-on'");
  CHECK(parse_error("on: push\njobs:\n  a:\n    runs-on: x\n    steps: [{run: x, uses: y@v1}]\n").message.find(
            "exactly one of 'run' and 'uses'") != std::string::npos);
  CHECK(parse_error("on: push\njobs:\n  a:\n    runs-on: x\n    steps: [{run: x, bogus: 1}]\n").message ==
        "ci.yml:5:22: unknown step key 'bogus'");
  CHECK(parse_error("on: push\njobs:\n  a:\n    runs-on: x\n    needs: zz\n    steps: [{run: x}]\n").message ==
        "ci.yml:4:5: job 'a' needs unknown job 'zz'");
}

TEST_CASE("A needs cycle is an error that shows the cycle") {
  auto e = parse_error(R"(on: push
jobs:
  a: {runs-on: x, needs: c, steps: [{run: x}]}
  b: {runs-on: x, needs: a, steps: [{run: x}]}
  c: {runs-on: x, needs: b, steps: [{run: x}]}
)");
  CHECK(e.message.find("'needs' cycle: a -> c -> b -> a") != std::string::npos);
  CHECK(e.message.starts_with("ci.yml:3:"));
}

TEST_CASE("uses: without @ref is rejected with act's message") {
  auto e = parse_error("on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: akbuild/step\n");
  CHECK(e.message == "ci.yml:6:15: 'akbuild/step': Expected format {org}/{repo}[/path]@ref or "
                     "https://example.com/{org}/{repo}[/path]@ref");
  CHECK(parse_workflow("on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: ./local\n"
                       "      - uses: https://code.forgejo.org/akbuild/step@v1\n",
                       "ci.yml")
            .has_value());
}

TEST_CASE("Matrix expansion applies exclude, then include as GitHub documents") {
  Value m = Value::parse(R"({"os": ["linux", "mac"], "v": [1, 2],
    "exclude": [{"os": "mac", "v": 1}],
    "include": [{"os": "linux", "extra": "x"}, {"os": "bsd", "v": 9}, {"v": 2, "big": true}]})");
  auto combos = expand_matrix(m);
  REQUIRE(combos.has_value());
  std::vector<std::string> got;
  for (const auto& c : *combos) got.push_back(to_json_text(c));
  CHECK(got == std::vector<std::string>{R"({"os":"linux","v":1,"extra":"x"})", R"({"os":"linux","v":2,"extra":"x","big":true})",
                                        R"({"os":"mac","v":2,"big":true})", R"({"os":"bsd","v":9})"});
  CHECK(filter_matrix(*combos, {{"os", {"mac"}}}).size() == 1);
  CHECK(filter_matrix(*combos, {{"v", {"2"}}}).size() == 2);
  // As act's --matrix: several values for a key, and a key a combination lacks excludes nothing.
  CHECK(filter_matrix(*combos, {{"v", {"1", "9"}}}).size() == 2);
  CHECK(filter_matrix(*combos, {{"big", {"true"}}, {"os", {"linux"}}}).size() == 2);
  CHECK(matrix_label((*combos)[3]) == "bsd, 9");
  CHECK(expand_matrix(nullptr)->size() == 1);
  CHECK(expand_matrix(Value::parse(R"({"include": [{"a": 1}, {"a": 2}]})"))->size() == 2);
  CHECK_FALSE(expand_matrix(Value::parse(R"({"os": "linux"})")).has_value());
  // As act's GetMatrixes: nothing left, or an empty dimension, is no combination (and no error).
  CHECK(expand_matrix(Value::parse(R"({"os": ["a"], "exclude": [{"os": "a"}]})"))->empty());
  CHECK(expand_matrix(Value::parse(R"({"dc": [], "v": [1, 2]})"))->empty());
}

TEST_CASE("Environment files hold NAME=VALUE lines and heredocs") {
  auto kv = parse_env_file("A=1\n\nB=x=y\nMULTI<<EOF\nline 1\nline 2\nEOF\nC=\n", "GITHUB_OUTPUT");
  REQUIRE(kv.has_value());
  REQUIRE(kv->size() == 4);
  CHECK((*kv)[1] == std::pair<std::string, std::string>{"B", "x=y"});
  CHECK((*kv)[2] == std::pair<std::string, std::string>{"MULTI", "line 1\nline 2"});
  CHECK((*kv)[3].second.empty());
  CHECK_FALSE(parse_env_file("X<<EOF\nno end\n", "GITHUB_ENV").has_value());
  CHECK(parse_env_file("garbage\n", "GITHUB_ENV").error().message == "GITHUB_ENV:1: expected NAME=VALUE or NAME<<DELIMITER, got 'garbage'");
  CHECK(parse_path_file("/a\n\n/b\n") == std::vector<std::string>{"/a", "/b"});
}

TEST_CASE("A key given twice in one map is an error at the second one") {
  CHECK(parse_error("on: push\njobs:\n  a:\n    runs-on: x\n    runs-on: y\n    steps: [{run: x}]\n").message ==
        "ci.yml:5:5: key 'runs-on' appears twice in one map");
  CHECK(parse_error("on: push\njobs:\n  a: {runs-on: x, steps: [{run: x, env: {A: 1, A: 2}}]}\n").message ==
        "ci.yml:3:48: key 'A' appears twice in one map");
  // One anchored map used twice is not a duplicate.
  CHECK(parse_workflow("on: push\nenv: &e {A: 1}\njobs:\n  a: {runs-on: x, env: *e, steps: [{run: x, env: *e}]}\n",
                       "ci.yml"));
}

TEST_CASE("Aliases that expand a matrix exponentially are refused, not expanded") {
  // Nine levels of ten aliases each: 10^9 values once expanded, in a dozen lines.
  std::string yaml = "on: push\njobs:\n  a:\n    runs-on: x\n    strategy:\n      matrix:\n        l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i) {
    std::string prev = "*l" + std::to_string(i - 1);
    yaml += "        l" + std::to_string(i) + ": &l" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) yaml += (k ? ", " : "") + prev;
    yaml += "]\n";
  }
  yaml += "    steps: [{run: x}]\n";
  CHECK(parse_error(yaml).message == "ci.yml:1:1: its aliases expand to more than 100000 values");
}

TEST_CASE("timeout-minutes too large for a duration is an error where it is written") {
  CHECK(parse_error("on: push\njobs:\n  a:\n    runs-on: x\n    timeout-minutes: 1e999\n    steps: [{run: x}]\n").message ==
        "ci.yml:5:22: 'timeout-minutes' must be a finite number of minutes");
  CHECK(parse_error("on: push\njobs:\n  a: {runs-on: x, steps: [{run: x, timeout-minutes: -1e999}]}\n").message ==
        "ci.yml:3:53: 'timeout-minutes' must be a finite number of minutes");
  CHECK(parse_workflow("on: push\njobs:\n  a: {runs-on: x, timeout-minutes: '${{ 1 }}', steps: [{run: x}]}\n", "ci.yml"));
}

TEST_CASE("A matrix of more combinations than GitHub allows is refused") {
  Value m = Value::object();
  for (const char* k : {"a", "b", "c"}) m[k] = Value::parse("[1, 2, 3, 4, 5, 6, 7]");  // 343
  auto r = expand_matrix(m);
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "strategy.matrix makes more than 256 combinations");
  m.erase("c");
  CHECK(expand_matrix(m)->size() == 49);
}
