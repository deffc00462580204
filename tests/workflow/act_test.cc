#include <doctest/doctest.h>

#include "tests/support/test_support.hh"
#include "tests/workflow/act_support.hh"

using namespace akbuild;
using test::TestDir;

namespace {

using test::act;

bool has_line(const std::string& out, const std::string& line) {
  return ("\n" + out).find("\n" + line + "\n") != std::string::npos;
}

const char* k_pipeline = R"(name: Pipeline
on: [push, workflow_dispatch]
jobs:
  build:
    runs-on: self-hosted
    steps:
      - run: echo build
  lint:
    name: Lint code
    runs-on: self-hosted
    steps:
      - run: echo lint
  test:
    needs: [build, lint]
    runs-on: self-hosted
    steps:
      - run: echo test
)";

} // namespace

TEST_CASE("act -l prints act's six columns, each as wide as its longest cell plus two") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", k_pipeline);
  auto r = act(dir, {"-l"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.out ==
        "Stage  Job ID  Job name   Workflow name  Workflow file  Events\n"
        "0      build   build      Pipeline       ci.yml         push,workflow_dispatch\n"
        "0      lint    Lint code  Pipeline       ci.yml         push,workflow_dispatch\n"
        "1      test    test       Pipeline       ci.yml         push,workflow_dispatch\n");
}

TEST_CASE("act -g draws one row of boxes per stage") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", k_pipeline);
  auto r = act(dir, {"-g"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.out.find("│ build │ │ Lint code │") != std::string::npos);
  REQUIRE(r.out.find("│ test │") != std::string::npos);
  CHECK(r.out.find("⬇") < r.out.find("│ test │"));
}

TEST_CASE("act runs jobs in needs order with matrix, outputs, env files and status functions") {
  TestDir dir;
  test::write(dir / "ws/tools/hello", "#!/bin/sh\necho hello from path\n", true);
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(name: Real
on: push
env:
  GREETING: hi
jobs:
  produce:
    runs-on: self-hosted
    outputs:
      tag: ${{ steps.t.outputs.tag }}
      list: ${{ steps.t.outputs.list }}
    steps:
      - id: t
        run: |
          echo "tag=v1.2" >> "$GITHUB_OUTPUT"
          echo 'list=["a","b"]' >> "$GITHUB_OUTPUT"
          echo "FROM_STEP=carried" >> "$GITHUB_ENV"
          echo "$GITHUB_WORKSPACE/tools" >> "$GITHUB_PATH"
      - run: |
          echo "env says $FROM_STEP and $GREETING"
          hello
          echo "forgejo output is $FORGEJO_OUTPUT" | grep -q "$GITHUB_OUTPUT" && echo same-file
  consume:
    needs: produce
    runs-on: self-hosted
    strategy:
      matrix:
        os: [linux, mac]
        item: ${{ fromJSON(needs.produce.outputs.list) }}
        exclude:
          - {os: mac, item: b}
        include:
          - {os: linux, flavour: debian}
          - {os: bsd, item: c}
    steps:
      - run: echo "combo ${{ matrix.os }}-${{ matrix.item }}-${{ matrix.flavour }} tag=${{ needs.produce.outputs.tag }}" > "out-${{ matrix.os }}-${{ matrix.item }}.txt"
  recover:
    needs: produce
    runs-on: self-hosted
    steps:
      - id: bad
        run: exit 3
        continue-on-error: true
      - run: echo "outcome=${{ steps.bad.outcome }} conclusion=${{ steps.bad.conclusion }}"
      - run: exit 4
      - run: echo never
      - if: failure()
        run: echo cleanup after failure
      - if: always()
        run: echo always runs
)");
  auto r = act(dir, {});
  INFO(r.out);
  INFO(r.err);
  CHECK(r.exit_code == 1);  // `recover` fails on purpose
  CHECK(has_line(r.out, "[produce/Run echo \"env says $FROM_STEP and $GREETING\"] env says carried and hi"));
  CHECK(has_line(r.out, "[produce/Run echo \"env says $FROM_STEP and $GREETING\"] hello from path"));
  CHECK(has_line(r.out, "[produce/Run echo \"env says $FROM_STEP and $GREETING\"] same-file"));
  CHECK(test::read(dir / "ws/out-linux-a.txt") == "combo linux-a-debian tag=v1.2\n");
  CHECK(test::read(dir / "ws/out-linux-b.txt") == "combo linux-b-debian tag=v1.2\n");
  CHECK(test::read(dir / "ws/out-mac-a.txt") == "combo mac-a- tag=v1.2\n");
  CHECK_FALSE(std::filesystem::exists(dir / "ws/out-mac-b.txt"));
  CHECK(test::read(dir / "ws/out-bsd-c.txt") == "combo bsd-c- tag=v1.2\n");
  CHECK(r.out.find("] outcome=failure conclusion=success") != std::string::npos);
  CHECK(r.out.find("] cleanup after failure") != std::string::npos);
  CHECK(r.out.find("] always runs") != std::string::npos);
  CHECK(r.out.find("] never") == std::string::npos);
  CHECK(has_line(r.out, "[recover] job failed"));
  CHECK(has_line(r.out, "[produce] job succeeded"));
  CHECK(r.out.find("[consume (debian, a, linux)] job succeeded") != std::string::npos);
  REQUIRE(r.out.find("[consume (debian, a, linux)] job started") != std::string::npos);
  CHECK(r.out.find("[produce] job succeeded") < r.out.find("[consume (debian, a, linux)] job started"));
}

TEST_CASE("act -j runs one job and what it needs; an unknown job lists the jobs") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", k_pipeline);
  auto one = act(dir, {"-j", "lint"});
  CHECK(one.exit_code == 0);
  CHECK(one.out.find("] lint") != std::string::npos);
  CHECK(one.out.find("] build") == std::string::npos);
  auto chain = act(dir, {"-j", "test"});
  CHECK(chain.exit_code == 0);
  CHECK(chain.out.find("] build") != std::string::npos);
  CHECK(chain.out.find("] test") != std::string::npos);
  auto bad = act(dir, {"-j", "nope"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err == "akbuild: error: unknown job 'nope'; the workflows have: build, lint, test\n");
}

TEST_CASE("act refuses a needs cycle and malformed YAML with exit status 2") {
  TestDir dir;
  test::write(dir / "ws/.github/workflows/ci.yml", "on: push\njobs:\n  a: {runs-on: x, needs: b, steps: [{run: x}]}\n"
                                                    "  b: {runs-on: x, needs: a, steps: [{run: x}]}\n");
  auto cycle = act(dir, {"-n"});
  CHECK(cycle.exit_code == 2);
  CHECK(cycle.err.find(".github/workflows/ci.yml:3:6: 'needs' cycle: a -> b -> a") != std::string::npos);
  test::write(dir / "ws/bad.yml", "on: push\njobs:\n  a:\n    runs-on: [x\n");
  auto bad = act(dir, {"-W", "bad.yml", "-l"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("bad.yml:5:1: ") != std::string::npos);
}

TEST_CASE("act masks secrets in every line it prints") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(on: push
jobs:
  leak:
    runs-on: self-hosted
    steps:
      - run: |
          echo "token is ${{ secrets.TOKEN }}"
          echo "env token is $TOKEN"
        env:
          TOKEN: ${{ secrets.TOKEN }}
)");
  auto r = act(dir, {"--secret", "TOKEN=hunter2-very-secret"});
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("hunter2-very-secret") == std::string::npos);
  CHECK(r.out.find("token is ***") != std::string::npos);
  CHECK(r.out.find("env token is ***") != std::string::npos);
  auto j = act(dir, {"--secret", "TOKEN=hunter2-very-secret", "--json"});
  CHECK(j.out.find("hunter2-very-secret") == std::string::npos);
  CHECK(j.out.find("\"event\":\"log\"") != std::string::npos);
}

TEST_CASE("act -n runs nothing and shows each run step's first line") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(on: push
jobs:
  build:
    runs-on: self-hosted
    steps:
      - uses: actions/checkout@v4
      - name: Make it
        run: |
          touch made.txt
          echo second line
      - uses: some/remote-action@v1
)");
  auto r = act(dir, {"-n"});
  CHECK(r.out.find("*DRYRUN* [build/Make it] would run: touch made.txt") != std::string::npos);
  CHECK(r.out.find("second line") == std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "ws/made.txt"));
  CHECK(r.out.find("'some/remote-action@v1' is not runnable locally") != std::string::npos);
  CHECK(r.exit_code == 1);
}

TEST_CASE("act runs local composite actions with their inputs and outputs") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/actions/greet/action.yml", R"(name: greet
inputs:
  who: {default: world}
  punct: {default: "!"}
outputs:
  said: {value: "${{ steps.say.outputs.said }}"}
runs:
  using: composite
  steps:
    - id: say
      shell: bash
      run: |
        echo "hello ${{ inputs.who }}${{ inputs.punct }}"
        echo "said=hello ${{ inputs.who }}" >> "$GITHUB_OUTPUT"
)");
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(on: push
jobs:
  a:
    runs-on: self-hosted
    steps:
      - id: g
        uses: ./.forgejo/actions/greet
        with: {who: akbuild}
      - run: echo "got ${{ steps.g.outputs.said }}"
)");
  auto r = act(dir, {});
  INFO(r.out);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("] hello akbuild!") != std::string::npos);
  CHECK(r.out.find("] got hello akbuild") != std::string::npos);
}

TEST_CASE("a composite action's values stay as written, and its faults point into action.yml") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/actions/py/action.yml", R"(name: py
inputs:
  version: {default: 3.10}
runs:
  using: composite
  steps:
    - shell: bash
      env: {MINOR: 3.20, FLAG: yes}
      run: echo "python ${{ inputs.version }} minor $MINOR flag $FLAG"
)");
  test::write(dir / "ws/.forgejo/actions/bad/action.yml", R"(name: bad
runs:
  using: composite
  steps:
    - shell: bash
      run: echo fine
    - shell: bash
      run: echo one
      uses: ./elsewhere
)");
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(on: push
jobs:
  a:
    runs-on: self-hosted
    steps:
      - uses: ./.forgejo/actions/py
      - uses: ./.forgejo/actions/bad
)");
  auto r = act(dir, {});
  INFO(r.out, r.err);
  CHECK(r.out.find("] python 3.10 minor 3.20 flag yes") != std::string::npos);
  CHECK(r.out.find("action.yml:7:7: a step needs exactly one of 'run' and 'uses'") != std::string::npos);
  CHECK(r.exit_code == 1);
}

TEST_CASE("act -n shows an akbuild step's key and miss, then hit after a real run, then why it misses") {
  TestDir dir;
  test::write(dir / "ws/src/in.txt", "hello\n");
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(on: push
jobs:
  build:
    runs-on: self-hosted
    steps:
      - id: gen
        name: Generate
        uses: akbuild/step@v1
        with:
          kind: exec
          run: tr a-z A-Z < src/in.txt > out.txt
          inputs: src/**
          outputs: out.txt
      - name: Show
        run: echo "got $(cat out.txt) hit=${{ steps.gen.outputs.cache-hit }}"
)");
  auto before = act(dir, {"-n"});
  INFO(before.out << before.err);
  CHECK(before.exit_code == 0);
  CHECK(before.out.find("*DRYRUN* [build/Generate] akbuild exec: key ") != std::string::npos);
  CHECK(before.out.find(" miss: would run") != std::string::npos);
  CHECK(before.out.find("*DRYRUN* [build/Show] would run: echo \"got $(cat out.txt) hit=false\"") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "ws/out.txt"));
  auto real = act(dir, {});
  INFO(real.out << real.err);
  CHECK(real.exit_code == 0);
  CHECK(real.out.find("[build/Show] got HELLO hit=false") != std::string::npos);
  auto after = act(dir, {"-n"});
  CHECK(after.out.find("] akbuild exec: key ") != std::string::npos);
  CHECK(after.out.find(" hit\n") != std::string::npos);
  CHECK(after.out.find("hit=true") != std::string::npos);
  test::write(dir / "ws/src/in.txt", "changed\n");
  auto changed = act(dir, {"-n", "--explain"});
  CHECK(changed.out.find(" miss: would run") != std::string::npos);
  CHECK(changed.out.find("src/in.txt") != std::string::npos);
}

TEST_CASE("act gives steps the workflow's github.event_name and github.workflow, in expressions and env") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(name: Events
on: [pull_request]
jobs:
  one:
    runs-on: self-hosted
    steps:
      - if: github.event_name == 'pull_request'
        run: echo "expr ${{ github.event_name }} ${{ github.workflow }}"
      - run: echo "env $GITHUB_EVENT_NAME"
)");
  auto r = act(dir, {});
  REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
  CHECK_MESSAGE(r.out.find("expr pull_request Events") != std::string::npos, r.out);
  CHECK_MESSAGE(r.out.find("env pull_request") != std::string::npos, r.out);
}

TEST_CASE("act runs a local copy of akbuild's own action (uses: ./action) as an akbuild step") {
  TestDir dir;
  std::filesystem::create_directories(dir / "ws/action");
  std::filesystem::copy_file(test::source_root() / "action/action.yml", dir / "ws/action/action.yml");
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"yaml(on: push
jobs:
  build:
    runs-on: self-hosted
    steps:
      - name: Generate
        id: gen
        uses: ./action
        with:
          kind: exec
          run: echo made > out.txt
          outputs: out.txt
      - run: echo "outputs ${{ steps.gen.outputs.cache-hit }} ${{ steps.gen.outputs.key }} $(cat out.txt)"
)yaml");
  auto dry = act(dir, {"-n"});
  REQUIRE_MESSAGE(dry.exit_code == 0, (dry.out + dry.err));
  auto at = dry.out.find("*DRYRUN* [build/Generate] akbuild exec: key ");
  REQUIRE_MESSAGE(at != std::string::npos, dry.out);
  std::string key = dry.out.substr(at + std::string_view("*DRYRUN* [build/Generate] akbuild exec: key ").size(), 64);
  CHECK_FALSE(std::filesystem::exists(dir / "ws/out.txt"));
  // Run for real: the step runs, its output lands in the workspace for the next step, and its
  // outputs are the dry run's key and a miss; the second run is a hit with the same key.
  auto run = act(dir, {});
  REQUIRE_MESSAGE(run.exit_code == 0, (run.out + run.err));
  CHECK(test::read(dir / "ws/out.txt") == "made\n");
  CHECK_MESSAGE(run.out.find("outputs false " + key + " made\n") != std::string::npos, run.out);
  auto again = act(dir, {});
  REQUIRE_MESSAGE(again.exit_code == 0, (again.out + again.err));
  CHECK_MESSAGE(again.out.find("[build/Generate] cache hit") != std::string::npos, again.out);
  CHECK_MESSAGE(again.out.find("outputs true " + key + " made\n") != std::string::npos, again.out);
}

TEST_CASE("act enforces timeout-minutes: a step's (an expression too) fails it, a job's cancels the job") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(on: push
jobs:
  steps:
    runs-on: self-hosted
    steps:
      - id: slow
        run: sleep 30
        timeout-minutes: ${{ 0.02 }}
        continue-on-error: true
      - run: echo "after ${{ steps.slow.outcome }}"
  job:
    runs-on: self-hosted
    timeout-minutes: 0.03
    steps:
      - run: echo first
      - run: sleep 30
      - run: echo never
  huge:
    runs-on: self-hosted
    steps:
      - run: echo unbounded
        timeout-minutes: 1e300
)");
  auto r = act(dir, {});
  INFO(r.out, r.err);
  CHECK(r.exit_code == 1);
  // Neither sleep ran to its end: one timed out, the other was cancelled with its job.
  CHECK(r.out.find("[steps/Run sleep 30] failed: timed out after 1.2s") != std::string::npos);
  CHECK(r.out.find("[job/Run sleep 30] failed: cancelled") != std::string::npos);
  CHECK(r.out.find("] after failure") != std::string::npos);
  CHECK(r.out.find("] first") != std::string::npos);
  CHECK(r.out.find("[job] the job exceeded its timeout-minutes (0.03) and was cancelled") != std::string::npos);
  CHECK(r.out.find("never") == std::string::npos);
  CHECK(r.out.find("timeout-minutes: must be a number of minutes from 0 to 525600") != std::string::npos);
  CHECK(r.out.find("] unbounded") == std::string::npos);
}

TEST_CASE("act applies timeout-minutes to akbuild steps too") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(on: push
jobs:
  build:
    runs-on: self-hosted
    steps:
      - id: slow
        uses: akbuild/step@v1
        timeout-minutes: 0.02
        continue-on-error: true
        with:
          kind: exec
          run: sleep 60; echo done > out.txt
          outputs: out.txt
      - run: echo "after ${{ steps.slow.outcome }}"
)");
  auto r = act(dir, {});
  INFO(r.out, r.err);
  CHECK(r.out.find("timed out after 1.2s") != std::string::npos);
  CHECK(r.out.find("] after failure") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "ws/out.txt"));
}

TEST_CASE("act keeps a run step's script, secrets and all, off the disk") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"yml(on: push
jobs:
  build:
    runs-on: self-hosted
    steps:
      - run: |
          test "${{ secrets.TOKEN }}" = "$(printf 'tok%s' en-value)" && echo token-seen
          grep -rl "tok""en-value" "$RUNNER_TEMP" || echo no-copy-in-runner-temp
)yml");
  auto r = act(dir, {"--secret", "TOKEN=token-value"});
  INFO(r.out, r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("token-seen") != std::string::npos);
  CHECK(r.out.find("no-copy-in-runner-temp") != std::string::npos);
}

TEST_CASE("act runs a step again when the output of a step it depends on changes") {
  TestDir dir;
  test::write(dir / "ws/in.txt", "a\n");
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(on: push
jobs:
  build:
    runs-on: self-hosted
    steps:
      - id: gen
        uses: akbuild/step@v1
        with: {kind: exec, run: "tr a-z A-Z < in.txt > gen.txt", inputs: in.txt, outputs: gen.txt}
      - id: use
        uses: akbuild/step@v1
        with: {kind: exec, run: "cat gen.txt gen.txt > use.txt", deps: '["gen"]', outputs: use.txt}
)");
  auto first = act(dir, {});
  REQUIRE_MESSAGE(first.exit_code == 0, (first.out + first.err));
  CHECK(test::read(dir / "ws/use.txt") == "A\nA\n");
  test::write(dir / "ws/in.txt", "b\n");
  auto second = act(dir, {});
  REQUIRE_MESSAGE(second.exit_code == 0, (second.out + second.err));
  CHECK(test::read(dir / "ws/use.txt") == "B\nB\n");
}

TEST_CASE("act refuses hostile input with one line and exit status 2") {
  TestDir dir;
  test::write(dir / "ws/.github/workflows/ci.yml", k_pipeline);
  SUBCASE("an event payload nested 50,000 deep") {
    test::write(dir / "deep.json", std::string(50000, '[') + std::string(50000, ']'));
    auto r = act(dir, {"-n", "-e", (dir / "deep.json").string()});
    CHECK(r.exit_code == 2);
    CHECK(r.err == "akbuild: error: " + (dir / "deep.json").string() + ": JSON nested deeper than 256 levels\n");
  }
  SUBCASE("timeout-minutes: 1e999") {
    test::write(dir / "ws/.github/workflows/ci.yml",
                "on: push\njobs:\n  a:\n    runs-on: x\n    timeout-minutes: 1e999\n    steps: [{run: echo}]\n");
    auto r = act(dir, {"-l"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("ci.yml:5:22: 'timeout-minutes' must be a finite number of minutes") != std::string::npos);
  }
}
