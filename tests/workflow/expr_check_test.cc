#include <doctest/doctest.h>

#include "runner/workflow/workflow.hh"

using namespace akbuild;
using namespace akbuild::workflow;

namespace {

std::string parse_error(const std::string& yaml) {
  auto r = parse_workflow(yaml, "ci.yml");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == ErrorCode::invalid_argument);
  return r.error().message;
}

} // namespace

TEST_CASE("Every ${{ }} of a workflow is parsed when it loads, its fault at its own line and column") {
  SUBCASE("in a plain scalar") {
    auto e = parse_error("on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo ${{ github.event_name == }}\n");
    CHECK_MESSAGE(e.starts_with("ci.yml:6:19: expression ' github.event_name == ': "), e);
  }
  SUBCASE("in a block scalar, on its third line") {
    auto e = parse_error("on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: |\n          echo a\n"
                         "          echo b\n          echo ${{ 1 + }}\n");
    CHECK_MESSAGE(e.starts_with("ci.yml:9:16: "), e);
  }
  SUBCASE("unclosed") {
    auto e = parse_error("on: push\nenv:\n  X: 'a ${{ github.sha'\njobs:\n  a: {runs-on: x, steps: [{run: x}]}\n");
    CHECK_MESSAGE(e.starts_with("ci.yml:3:9: unclosed '${{'"), e);
  }
  SUBCASE("a job's and a step's if:, which need no ${{ }}") {
    auto job = parse_error("on: push\njobs:\n  a:\n    if: github.ref ==\n    runs-on: x\n    steps: [{run: x}]\n");
    CHECK_MESSAGE(job.starts_with("ci.yml:4:9: "), job);
    auto step = parse_error("on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - if: success() &&\n        run: x\n");
    CHECK_MESSAGE(step.starts_with("ci.yml:6:13: "), step);
  }
  SUBCASE("in with:, a matrix and job outputs") {
    CHECK(parse_error("on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: a/b@v1\n        with: {k: '${{ ( }}'}\n")
              .starts_with("ci.yml:7:20: "));
    CHECK(parse_error("on: push\njobs:\n  a:\n    runs-on: x\n    strategy: {matrix: {v: ['${{ !! }}']}}\n    steps: [{run: x}]\n")
              .starts_with("ci.yml:5:30: "));
    CHECK(parse_error("on: push\njobs:\n  a:\n    runs-on: x\n    outputs: {o: '${{ steps.x.outputs. }}'}\n    steps: [{run: x}]\n")
              .starts_with("ci.yml:5:19: "));
  }
}

TEST_CASE("Well-formed expressions, literal braces and the triggers load") {
  auto wf = parse_workflow("on:\n  workflow_dispatch:\n    inputs: {x: {description: 'not ${{ an expression'}}\njobs:\n"
                           "  a:\n    if: github.event_name == 'push' || always()\n    runs-on: ${{ matrix.os }}\n"
                           "    strategy: {matrix: {os: [x]}}\n    steps:\n      - run: echo '}}' ${{ format('{0}}}', 'a') }}\n"
                           "      - if: ${{ success() }}\n        run: echo {{ x }}\n",
                           "ci.yml");
  CHECK_MESSAGE(wf.has_value(), (wf ? "" : wf.error().message));
}
