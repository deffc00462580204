// `akbuild act` where users compare it with act: the event, the files of values, job names,
// listing, one step with its deps, and dry runs that fail.

#include <doctest/doctest.h>

#include <filesystem>

#include "tests/support/test_support.hh"
#include "tests/workflow/act_support.hh"

using namespace akbuild;
using test::TestDir;

namespace {

using test::act;
using test::contains;

void write_event_workflows(const TestDir& dir) {
  test::write(dir / "ws/.forgejo/workflows/push.yml", R"(name: Push only
on:
  push:
    branches: [release]
jobs:
  p:
    runs-on: self-hosted
    steps:
      - run: echo "push job for $GITHUB_EVENT_NAME"
)");
  test::write(dir / "ws/.forgejo/workflows/review.yml", R"(name: Review
on: [pull_request, workflow_dispatch]
jobs:
  r:
    runs-on: self-hosted
    steps:
      - run: echo "review job for ${{ github.event_name }}"
)");
}

} // namespace

TEST_CASE("act EVENT runs only the workflows that event triggers; push is the default") {
  TestDir dir;
  write_event_workflows(dir);
  auto pr = act(dir, {"pull_request"});
  REQUIRE_MESSAGE(pr.exit_code == 0, (pr.out + pr.err));
  CHECK(contains(pr.out, "review job for pull_request"));
  CHECK_FALSE(contains(pr.out, "push job"));

  // Without an event: push, whose branch filter act does not apply locally.
  auto push = act(dir, {});
  REQUIRE_MESSAGE(push.exit_code == 0, (push.out + push.err));
  CHECK(contains(push.out, "push job for push"));
  CHECK_FALSE(contains(push.out, "review job"));

  // -j names a job whatever the event.
  auto job = act(dir, {"-j", "r"});
  CHECK(contains(job.out, "review job for push"));

  auto none = act(dir, {"schedule"});
  CHECK(none.exit_code == 2);
  CHECK_MESSAGE(contains(none.err, "no workflow runs on the event 'schedule' (the workflows run on: pull_request, push, "
                              "workflow_dispatch)"), none.err);

  // -l shows every workflow, or those of the named event.
  CHECK(contains(act(dir, {"-l"}).out, "Push only"));
  auto listed = act(dir, {"-l", "pull_request"});
  CHECK(contains(listed.out, "Review"));
  CHECK_FALSE(contains(listed.out, "Push only"));
}

TEST_CASE("act without an event runs the only event the workflows use") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/a.yml",
              "on: pull_request\njobs:\n  a: {runs-on: x, steps: [{run: 'echo a for $GITHUB_EVENT_NAME'}]}\n");
  test::write(dir / "ws/.forgejo/workflows/b.yml",
              "on: {pull_request: {paths: [docs/**]}}\njobs:\n  b: {runs-on: x, steps: [{run: 'echo b ran'}]}\n");
  auto r = act(dir, {});
  REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
  CHECK(contains(r.out, "a for pull_request"));
  CHECK(contains(r.out, "b ran"));
}

TEST_CASE("act workflow_dispatch gives each declared input its default, booleans as booleans") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/d.yml", R"(on:
  workflow_dispatch:
    inputs:
      level: {default: low}
      retries: {default: 3}
      debug: {type: boolean, default: true}
      quiet: {type: boolean}
      note: {description: no default}
jobs:
  d:
    runs-on: self-hosted
    steps:
      - run: echo "level=${{ inputs.level }} retries=${{ inputs.retries }} debug=${{ toJSON(inputs.debug) }} quiet=${{ toJSON(inputs.quiet) }} note=[${{ inputs.note }}]"
)");
  auto defaults = act(dir, {});
  REQUIRE_MESSAGE(defaults.exit_code == 0, (defaults.out + defaults.err));
  CHECK_MESSAGE(contains(defaults.out, "] level=low retries=3 debug=true quiet=false note=[]"), defaults.out);
  auto given = act(dir, {"workflow_dispatch", "--input", "level=high", "--input", "debug=false"});
  CHECK_MESSAGE(contains(given.out, "] level=high retries=3 debug=false quiet=false note=[]"), given.out);
  // Not a workflow_dispatch run: no defaults (act's rule).
  test::write(dir / "ws/.forgejo/workflows/d.yml",
              "on: [push, workflow_dispatch]\njobs:\n  d: {runs-on: x, steps: [{run: 'echo level=[${{ inputs.level }}]'}]}\n");
  CHECK(contains(act(dir, {"push"}).out, "] level=[]"));
}

TEST_CASE("act reads --input-file, --var-file and --env-file, .input, .vars and .env by default; flags win") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/v.yml", R"(on: workflow_dispatch
env:
  FROM: workflow
  KEEP: workflow
jobs:
  v:
    runs-on: self-hosted
    steps:
      - run: echo "input=${{ inputs.who }} var=${{ vars.COLOR }} env=$FROM keep=$KEEP other=$OTHER"
)");
  test::write(dir / "ws/.input", "who=file\n");
  test::write(dir / "ws/.vars", "COLOR=\"dark blue\" # a comment\n");
  test::write(dir / "ws/.env", "export FROM=envfile\nOTHER='x y'\n");
  auto defaults = act(dir, {});
  REQUIRE_MESSAGE(defaults.exit_code == 0, (defaults.out + defaults.err));
  // --env and .env are over the workflow's env, as act's are.
  CHECK_MESSAGE(contains(defaults.out, "] input=file var=dark blue env=envfile keep=workflow other=x y"), defaults.out);

  test::write(dir / "ws/conf/vars.yml", "COLOR: green\n");
  test::write(dir / "ws/conf/in.env", "who=named\n");
  auto named = act(dir, {"--var-file", "conf/vars.yml", "--input-file", "conf/in.env", "--env-file", "conf/in.env",
                         "--env", "FROM=flag", "--input", "who=flag"});
  REQUIRE_MESSAGE(named.exit_code == 0, (named.out + named.err));
  CHECK_MESSAGE(contains(named.out, "] input=flag var=green env=flag keep=workflow other=\n"), named.out);

  auto missing = act(dir, {"--var-file", "nope.env"});
  CHECK(missing.exit_code == 2);
  CHECK_MESSAGE((contains(missing.err, "--var-file: ") && contains(missing.err, "nope.env")), missing.err);
  test::write(dir / "ws/.env", "1BAD=x\n");
  auto bad = act(dir, {});
  CHECK(bad.exit_code == 2);
  CHECK_MESSAGE((contains(bad.err, "--env-file: ") && contains(bad.err, ".env:1: ")), bad.err);
}

TEST_CASE("act expands a job name's ${{ }} for each matrix combination; other names get the values, by sorted key") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/m.yml", R"(on: push
jobs:
  t:
    name: test ${{ matrix.os }}-${{ matrix.v }}
    runs-on: self-hosted
    strategy:
      matrix: {os: [linux, bsd], v: [1]}
    steps:
      - run: echo hi
  u:
    runs-on: self-hosted
    strategy:
      matrix: {os: [linux], arch: [arm]}
    steps:
      - run: echo hi
)");
  auto r = act(dir, {});
  REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
  CHECK(contains(r.out, "[test linux-1/Run echo hi] hi\n"));
  CHECK(contains(r.out, "[test bsd-1/Run echo hi] hi\n"));
  // As Forgejo names them: the values in the order of their sorted keys.
  CHECK(contains(r.out, "[u (arm, linux)/Run echo hi] hi\n"));
  CHECK_FALSE(contains(r.out, "${{"));
}

TEST_CASE("act -l lists reusable-workflow jobs, and -l --json one object per job; offline, a run names what it cannot fetch") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(name: CI
on: [push, pull_request]
jobs:
  build:
    runs-on: self-hosted
    steps:
      - run: echo build
  deploy:
    needs: build
    uses: some/repo/.forgejo/workflows/deploy.yml@v1
    with: {where: staging}
)");
  auto table = act(dir, {"-l"});
  REQUIRE_MESSAGE(table.exit_code == 0, table.err);
  CHECK(table.out ==
        "Stage  Job ID  Job name  Workflow name  Workflow file  Events\n"
        "0      build   build     CI             ci.yml         push,pull_request\n"
        "1      deploy  deploy    CI             ci.yml         push,pull_request\n");
  auto json = act(dir, {"-l", "--json"});
  REQUIRE_MESSAGE(json.exit_code == 0, json.err);
  CHECK(json.out ==
        "{\"stage\":0,\"job_id\":\"build\",\"job_name\":\"build\",\"workflow_name\":\"CI\",\"workflow_file\":\"ci.yml\","
        "\"workflow_path\":\".forgejo/workflows/ci.yml\",\"events\":[\"push\",\"pull_request\"],\"needs\":[],\"uses\":\"\"}\n"
        "{\"stage\":1,\"job_id\":\"deploy\",\"job_name\":\"deploy\",\"workflow_name\":\"CI\",\"workflow_file\":\"ci.yml\","
        "\"workflow_path\":\".forgejo/workflows/ci.yml\",\"events\":[\"push\",\"pull_request\"],\"needs\":[\"build\"],"
        "\"uses\":\"some/repo/.forgejo/workflows/deploy.yml@v1\"}\n");
  auto run = act(dir, {});
  CHECK(run.exit_code == 1);
  CHECK(contains(run.out, "[build/Run echo build] build\n"));
  CHECK(contains(run.out, "[deploy] 'some/repo/.forgejo/workflows/deploy.yml@v1' is not runnable locally: "
                          "cannot fetch https://data.forgejo.org/some/repo@v1: "));
}

TEST_CASE("act --step runs that step, the steps its deps name, the run steps before it and the jobs its job needs") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(on: push
jobs:
  pre:
    runs-on: self-hosted
    steps:
      - run: echo pre ran
  build:
    needs: pre
    runs-on: self-hosted
    steps:
      - run: echo first run step
      - id: api
        uses: akbuild/step@v1
        with: {kind: exec, run: 'echo api > api.txt', outputs: api.txt}
      - id: other
        uses: akbuild/step@v1
        with: {kind: exec, run: 'echo other > other.txt', outputs: other.txt}
      - id: web
        uses: akbuild/step@v1
        with:
          kind: exec
          deps: '["api"]'
          run: 'cp api.txt web.txt'
          outputs: web.txt
      - run: echo after
  unrelated:
    runs-on: self-hosted
    steps:
      - run: echo unrelated ran
)");
  auto r = act(dir, {"--step", "web"});
  REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
  CHECK(contains(r.out, "pre ran"));
  CHECK(std::filesystem::exists(dir / "ws/api.txt"));
  CHECK(test::read(dir / "ws/web.txt") == "api\n");
  CHECK_FALSE(std::filesystem::exists(dir / "ws/other.txt"));
  // A run: step before it may make its inputs: it runs.
  CHECK(contains(r.out, "] first run step\n"));
  CHECK_FALSE(contains(r.out, "after"));
  CHECK_FALSE(contains(r.out, "unrelated"));

  auto unknown = act(dir, {"--step", "nope"});
  CHECK(unknown.exit_code == 2);
  CHECK_MESSAGE(contains(unknown.err, "--step: no job has a step with id 'nope'; the step ids are: build.api, build.other, "
                                 "build.web"), unknown.err);
}

TEST_CASE("act -n names the one akbuild step whose plan fails; the steps after it are skipped") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(on: push
jobs:
  b:
    runs-on: self-hosted
    steps:
      - id: one
        uses: akbuild/step@v1
        with: {kind: exec, run: 'echo 1 > one.txt', outputs: one.txt}
      - id: two
        uses: akbuild/step@v1
        with: {kind: exec, run: 'no-such-tool-akb', tools: '["no-such-tool-akb"]', outputs: two.txt}
      - id: three
        uses: akbuild/step@v1
        with: {kind: exec, run: 'echo 3 > three.txt', outputs: three.txt}
)");
  auto r = act(dir, {"-n"});
  CHECK(r.exit_code == 1);
  CHECK_MESSAGE(contains(r.out, "*DRYRUN* [b/Run akbuild/step@v1 (one)] akbuild exec: key "), r.out);
  CHECK(contains(r.out, "*DRYRUN* [b/Run akbuild/step@v1 (one)] success\n"));
  CHECK(contains(r.out, "*DRYRUN* [b/Run akbuild/step@v1 (two)] step 'two': tool: no-such-tool-akb: not found"));
  CHECK(contains(r.out, "*DRYRUN* [b/Run akbuild/step@v1 (two)] failure\n"));
  CHECK(contains(r.out, "*DRYRUN* [b/Run akbuild/step@v1 (three)] skipped\n"));
  std::size_t named = 0;
  for (std::size_t at = r.out.find("no-such-tool-akb: not found"); at != std::string::npos;
       at = r.out.find("no-such-tool-akb: not found", at + 1))
    ++named;
  CHECK(named == 1);
}

TEST_CASE("act -l and -n refuse a malformed ${{ }} with its file, line and column") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml",
              "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo ${{ github.event_name == }}\n");
  for (const char* flag : {"-l", "-n"}) {
    auto r = act(dir, {flag});
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(contains(r.err, ".forgejo/workflows/ci.yml:6:19: expression ' github.event_name == ': "), r.err);
    CHECK(r.out.empty());
  }
}

TEST_CASE("act takes secret names as act does, case-insensitively: --secret token= replaces the file's TOKEN") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/s.yml", R"(on: push
jobs:
  s:
    runs-on: self-hosted
    steps:
      - run: test "${{ secrets.token }}" = from-flag && test "$T" = from-flag && echo flag won
        env: {T: '${{ secrets.TOKEN }}'}
)");
  test::write(dir / "ws/secrets.env", "TOKEN=from-file\n");
  auto r = act(dir, {"--secret-file", (dir / "ws/secrets.env").string(), "--secret", "token=from-flag"});
  CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err));
  CHECK(contains(r.out, "] flag won\n"));
}
