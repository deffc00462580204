// Runs that act ends with an error of its own rather than only "Job 'X' failed", and actions act
// refuses by its schema.
#include <doctest/doctest.h>

#include "runner/workflow/workflow.hh"
#include "tests/support/test_support.hh"
#include "tests/workflow/act_support.hh"

using namespace akbuild;
using test::act;
using test::contains;
using test::TestDir;

TEST_CASE("a composite action without steps fails its job, and the run ends with act's error") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(on: push
jobs:
  plain:
    runs-on: self-hosted
    steps: [{ run: exit 1 }]
  empty:
    needs: []
    runs-on: self-hosted
    steps:
      - uses: ./empty
      - run: echo never
)");
  test::write(dir / "ws/empty/action.yml", "runs:\n  using: composite\n");
  auto r = act(dir, {});
  INFO(r.out, r.err);
  CHECK(r.exit_code == 1);
  CHECK(contains(r.out, "[empty/Run ./empty] './empty': missing steps in composite action\n"));
  CHECK(contains(r.out, "[empty/Run echo never] skipped\n"));
  // The error wins over a job that merely failed, as act returns it.
  CHECK(contains(r.out, "Error: Job 'empty' failed: missing steps in composite action\n"));
  auto n = act(dir, {"-n"});
  CHECK(n.exit_code == 0);
}

TEST_CASE("timeout-minutes 0 is a limit already reached: the job is cancelled before its first step") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(on: push
env: { LIMIT: 0 }
jobs:
  zero:
    runs-on: self-hosted
    timeout-minutes: ${{ env.LIMIT }}
    steps: [{ run: echo never }]
  step-zero:
    runs-on: self-hosted
    steps:
      - id: s
        run: echo never either
        timeout-minutes: 0
        continue-on-error: true
      - run: echo "after ${{ steps.s.outcome }}"
)");
  auto r = act(dir, {});
  INFO(r.out, r.err);
  CHECK(r.exit_code == 1);
  CHECK_FALSE(contains(r.out, "] never"));
  CHECK(contains(r.out, "[zero] the job exceeded its timeout-minutes (0) and was cancelled\n"));
  CHECK(contains(r.out, "Error: Job 'zero' failed: context deadline exceeded\n"));
  CHECK(contains(r.out, "[step-zero/Run echo never either] failed: timed out after 0s\n"));
  CHECK(contains(r.out, "] after failure\n"));
  // A dry run runs nothing, so no limit applies.
  CHECK(act(dir, {"-n"}).exit_code == 0);
}

TEST_CASE("an action whose input default reads a context act's schema does not allow there is refused") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(on: push
jobs:
  use:
    runs-on: self-hosted
    steps:
      - uses: ./action
)");
  SUBCASE("secrets: refused where it is written") {
    test::write(dir / "ws/action/action.yml", R"(inputs:
  leak: { default: "${{ secrets.TOKEN }}" }
runs: { using: composite, steps: [{ shell: bash, run: echo ran }] }
)");
    auto r = act(dir, {"--secret", "TOKEN=abcdef"});
    INFO(r.out, r.err);
    CHECK(r.exit_code == 1);
    CHECK(contains(r.out, "action/action.yml:2:20: inputs.leak.default: expression ' secrets.TOKEN ': "
                          "Unrecognized named-value: 'secrets' at column 2"));
    CHECK_FALSE(contains(r.out, "] ran\n"));
    CHECK(contains(r.out, "Error: Job 'use' failed\n"));
  }
  SUBCASE("github, inputs and env are allowed") {
    test::write(dir / "ws/action/action.yml", R"(inputs:
  a: { default: "${{ github.event_name }}" }
  b: { default: "${{ inputs.a }}-${{ env.ACT }}" }
runs: { using: composite, steps: [{ shell: bash, run: "echo ran ${{ inputs.b }}" }] }
)");
    auto r = act(dir, {});
    INFO(r.out, r.err);
    CHECK(r.exit_code == 0);
    CHECK(contains(r.out, "] ran "));
  }
}
