// `akbuild act` agrees with act where act's runner tests and documentation say what it does.
#include <doctest/doctest.h>

#include "runner/workflow/stdout_commands.hh"
#include "tests/support/test_support.hh"
#include "tests/workflow/act_support.hh"

using namespace akbuild;
using test::TestDir;

namespace {

using test::act;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Runs act on <dir>/ws with <dir>/server as the server of remote actions: a real git clone,
// over file://.
test::CommandResult act_served(const TestDir& dir, const std::vector<std::string>& args = {}) {
  test::CommandOptions with_server;
  with_server.env = {{"AKBUILD_DEFAULT_ACTIONS_URL", "file://" + (dir / "server").string()}};
  std::vector<std::string> all{"act", "-C", (dir / "ws").string()};
  all.insert(all.end(), args.begin(), args.end());
  return test::akbuild(dir, all, with_server);
}

// Commits `repo` (<dir>/server/<owner>/<repo>) with tag v1; its commit.
std::string commit_and_tag(const std::filesystem::path& repo) {
  test::CommandOptions in_repo;
  in_repo.cwd = repo;
  auto init = test::sh("git init -q && git add -A && git -c user.email=a@b -c user.name=a commit -qm one && git tag v1 "
                       "&& git rev-parse HEAD",
                       in_repo);
  REQUIRE(init.exit_code == 0);
  return init.out.substr(0, 40);
}

// commit_and_tag, then act_served.
test::CommandResult act_with_actions_from(const TestDir& dir, const std::filesystem::path& repo) {
  commit_and_tag(repo);
  return act_served(dir);
}

} // namespace

TEST_CASE("parse_stdout_command reads name, properties and unescaped data") {
  auto c = workflow::parse_stdout_command("::set-output name=a%3Ab%2Cc::x%0Ay%25\r\n");
  REQUIRE(c);
  CHECK(c->name == "set-output");
  CHECK(c->props.at("name") == "a:b,c");
  CHECK(c->data == "x\ny%");
  CHECK_FALSE(workflow::parse_stdout_command("plain text"));
  CHECK_FALSE(workflow::parse_stdout_command(":: no name"));
  workflow::StdoutCommands commands;
  CHECK_FALSE(commands.feed("::stop-commands::tok"));
  CHECK_FALSE(commands.feed("::set-env name=a::b"));
  CHECK_FALSE(commands.feed("::tok::"));
  CHECK(commands.feed("::set-env name=a::b"));
}

TEST_CASE("act honours the deprecated ::set-output, ::set-env and ::add-path, and ::stop-commands") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(on: push
jobs:
  build:
    runs-on: self-hosted
    steps:
      - run: echo "::set-env name=foo::bar"
      - run: test "$foo" = bar
      - id: out
        run: echo "::set-output name=zoo::zar"
      - run: echo "::add-path::/zip"
      - run: case ":$PATH:" in *:/zip:*) ;; *) exit 1;; esac
      - if: steps.out.outputs.zoo == 'zar'
        run: echo "::set-env name=cond::yes"
      - run: test "$cond" = yes
      - run: |
          echo "::stop-commands::end-token"
          echo "::set-env name=foo::baz"
          echo "::end-token::"
          echo "::set-env name=foo::qux"
      - run: test "$foo" = qux
)");
  auto r = act(dir, {});
  CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err));
  CHECK(contains(r.out, "[build/Run echo \"::set-env name=foo::bar\"] \u2699  ::set-env:: foo=bar"));
  CHECK(contains(r.out, "\u2699  ::set-output:: zoo=zar"));
  CHECK(contains(r.out, "\u2699  ::add-path:: /zip"));
}

TEST_CASE("act gives the contexts act gives: env.ACT, input defaults, workflow env in job if, head_ref, actor") {
  TestDir dir;
  SUBCASE("env.ACT and act's default actor") {
    test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(on: push
jobs:
  build:
    runs-on: self-hosted
    steps:
      - if: ${{ !env.ACT }}
        run: exit 1
      - if: ${{ env.ACT }}
        run: test "$ACT" = true && test '${{ github.actor }}' = nektos/act && test "$GITHUB_ACTOR" = nektos/act
)");
    auto r = act(dir, {});
    CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err));
  }
  SUBCASE("workflow_dispatch inputs: given, default, boolean") {
    test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(on:
  workflow_dispatch:
    inputs:
      required: { required: true }
      with_default: { default: the-default }
      flag: { type: boolean }
      off: { type: boolean, default: false }
jobs:
  test:
    runs-on: self-hosted
    steps:
      - run: test '${{ inputs.required }}' = given && test '${{ inputs.with_default }}' = the-default
      - run: test '${{ tojson(inputs.flag) }}' = true && test '${{ tojson(inputs.off) }}' = false
)");
    test::write(dir / "event.json", R"({"inputs": {"required": "given", "flag": "true"}})");
    auto r = act(dir, {"-e", (dir / "event.json").string()});
    CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err));
  }
  SUBCASE("workflow_call inputs of a workflow run on its own: defaults, booleans") {
    test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(on:
  workflow_call:
    inputs:
      with_default: { default: the-default }
      flag: { type: boolean, default: true }
jobs:
  test:
    runs-on: self-hosted
    steps:
      - run: test '${{ inputs.with_default }}/${{ tojson(inputs.flag) }}' = the-default/true
)");
    auto r = act(dir, {});
    CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err));
  }
  SUBCASE("workflow env and the job's env in a job-level if") {
    test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(on: push
env: { T: true, F: false }
jobs:
  yes:
    runs-on: self-hosted
    if: ${{ env.T == 'true' }}
    steps: [{ run: "true" }]
  own:
    runs-on: self-hosted
    if: ${{ env.MINE == 'true' }}
    env: { MINE: true }
    steps: [{ run: "true" }]
  no:
    runs-on: self-hosted
    if: ${{ env.F == 'true' }}
    steps: [{ run: "true" }]
  check:
    if: always()
    needs: [yes, own, no]
    runs-on: self-hosted
    steps:
      - run: test '${{ needs.yes.result }}/${{ needs.own.result }}/${{ needs.no.result }}' = success/success/skipped
)");
    auto r = act(dir, {});
    CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err));
  }
  SUBCASE("github.head_ref and base_ref of a pull_request event") {
    test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(on: pull_request
jobs:
  pr:
    runs-on: self-hosted
    steps:
      - run: test '${{ github.head_ref }}' = feature && test '${{ github.base_ref }}' = main
)");
    test::write(dir / "event.json", R"({"pull_request": {"head": {"ref": "feature"}, "base": {"ref": "main"}}})");
    auto r = act(dir, {"-e", (dir / "event.json").string()});
    CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err));
  }
  SUBCASE("github.action_path inside a composite action") {
    test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(on: push
jobs:
  build:
    runs-on: self-hosted
    steps:
      - uses: ./act/here
)");
    test::write(dir / "ws/act/here/action.yml", R"(runs:
  using: composite
  steps:
    - shell: bash
      run: test '${{ github.action_path }}' = "$GITHUB_ACTION_PATH" && test -f '${{ github.action_path }}/action.yml'
)");
    auto r = act(dir, {});
    CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err));
  }
}

TEST_CASE("act evaluates shell: given as an expression") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(on: push
env: { MY_SHELL: sh }
jobs:
  build:
    runs-on: self-hosted
    steps:
      - shell: ${{ env.MY_SHELL }}
        run: test -z "$BASH_VERSION"
)");
  auto r = act(dir, {});
  CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err));
}

TEST_CASE("act expands ${{ insert }} and expressions in matrices; an empty dimension leaves the job no runs") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(on: push
jobs:
  merge:
    runs-on: self-hosted
    strategy:
      matrix:
        a:
          - env:
              key1: val1
              ${{ insert }}: ${{ fromJSON('{"key2":"val2"}') }}
    steps:
      - run: test '${{ matrix.a.env.key1 }}${{ matrix.a.env.key2 }}' = val1val2
  from-json:
    runs-on: self-hosted
    strategy:
      matrix:
        n: ${{ fromJSON('[1, 2]') }}
    steps:
      - run: echo "n=${{ matrix.n }}"
  empty:
    runs-on: self-hosted
    strategy:
      matrix:
        datacenter: []
    steps:
      - run: echo "ran without ${{ matrix.datacenter }}"
  after-empty:
    needs: empty
    runs-on: self-hosted
    steps:
      - run: echo "after-empty ran"
)");
  auto r = act(dir, {});
  CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err));
  CHECK(contains(r.out, "n=1"));
  CHECK(contains(r.out, "n=2"));
  CHECK(contains(r.out, "[empty] no matrix combinations: the job has no runs"));
  CHECK_FALSE(contains(r.out, "ran without"));
  CHECK(contains(r.out, "after-empty ran"));
}

TEST_CASE("act ends a failed run with act's \"Job 'X' failed\" and skips the jobs that need it") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(on: push
jobs:
  build:
    name: Build it
    runs-on: self-hosted
    steps: [{ run: exit 1 }]
  after:
    needs: build
    runs-on: self-hosted
    steps: [{ run: touch ran-after }]
)");
  auto r = act(dir, {});
  CHECK(r.exit_code == 1);
  CHECK(contains(r.out, "\nError: Job 'Build it' failed\n"));
  CHECK(contains(r.out, "[after] job skipped"));
  CHECK_FALSE(std::filesystem::exists(dir / "ws/ran-after"));
}

TEST_CASE("$GITHUB_ENV written in a composite action outlives the step's env for later steps") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(on: push
jobs:
  build:
    runs-on: self-hosted
    env: { MY_ENV: job }
    steps:
      - run: echo "MY_ENV=first" >> "$GITHUB_ENV"
      - run: test "$MY_ENV" = first && test '${{ env.MY_ENV }}' = first
      - uses: ./act
        env: { MY_ENV: step }
      - run: test "$MY_ENV" = returned && test '${{ env.MY_ENV }}' = returned
)");
  test::write(dir / "ws/act/action.yml", R"(runs:
  using: composite
  steps:
    - shell: bash
      run: test "$MY_ENV" = step && echo "MY_ENV=returned" >> "$GITHUB_ENV"
)");
  auto r = act(dir, {});
  CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err));
}

TEST_CASE("act runs a local JavaScript action with the host's node: INPUT_*, env files, ::save-state, post last") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(on: push
jobs:
  build:
    runs-on: self-hosted
    steps:
      - id: greet
        uses: ./actions/node20
        with:
          who-to-greet: Mona the Octocat
      - run: test '${{ steps.greet.outputs.greeting }}' = 'Hello Mona the Octocat (default-mood)' && test "$FROM_MAIN" = main
      - uses: ./actions/node24
)");
  test::write(dir / "ws/actions/node20/action.yml", R"(name: greet
inputs:
  who-to-greet: { required: true }
  mood: { default: default-mood }
runs:
  using: node20
  main: dist/index.js
  post: dist/post.js
)");
  test::write(dir / "ws/actions/node20/dist/index.js", R"(const fs = require('fs');
const who = process.env['INPUT_WHO-TO-GREET'], mood = process.env['INPUT_MOOD'];
fs.appendFileSync(process.env.GITHUB_OUTPUT, `greeting=Hello ${who} (${mood})\n`);
fs.appendFileSync(process.env.GITHUB_ENV, 'FROM_MAIN=main\n');
fs.appendFileSync(process.env.GITHUB_STATE, 'saved=by-main\n');
console.log('::save-state name=printed::by-command');
if (process.env.GITHUB_ACTION_PATH !== __dirname.replace(/\/dist$/, '')) process.exit(3);
)");
  test::write(dir / "ws/actions/node20/dist/post.js", R"(
console.log(`post sees ${process.env.STATE_saved} ${process.env.STATE_printed} ${process.env['INPUT_WHO-TO-GREET']}`);
)");
  test::write(dir / "ws/actions/node24/action.yml", "runs:\n  using: node24\n  main: main.js\n  post: post.js\n");
  test::write(dir / "ws/actions/node24/main.js", "console.log('node24 main');\n");
  test::write(dir / "ws/actions/node24/post.js", "console.log('node24 post');\n");
  auto r = act(dir, {});
  CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err));
  CHECK(contains(r.out, "post sees by-main by-command Mona the Octocat"));
  // Post stages run after every step, the last registered first.
  auto main24 = r.out.find("node24 main"), post24 = r.out.find("node24 post"), post20 = r.out.find("post sees");
  CHECK(main24 < post24);
  CHECK(post24 < post20);

  SUBCASE("a failing post stage fails the job") {
    test::write(dir / "ws/actions/node24/post.js", "process.exit(1);\n");
    auto f = act(dir, {});
    CHECK(f.exit_code == 1);
    CHECK(contains(f.out, "Error: Job 'build' failed"));
  }
  SUBCASE("a dry run runs no script") {
    auto n = act(dir, {"-n"});
    CHECK(n.exit_code == 0);
    CHECK(contains(n.out, "would run: node dist/index.js"));
    CHECK_FALSE(contains(n.out, "node24 main"));
  }
}

namespace {

const char* k_reusable = R"(name: reusable
on:
  workflow_call:
    inputs:
      text: { required: true, type: string }
      text_default: { type: string, default: the-default }
      flag: { required: true, type: boolean }
      flag_default: { type: boolean, default: true }
      number: { required: true, type: number }
      number_default: { type: number, default: "${{ 1 }}" }
    outputs:
      output:
        value: ${{ jobs.inner.outputs.out }}
jobs:
  inner:
    runs-on: self-hosted
    outputs:
      out: ${{ steps.o.outputs.value }}
    steps:
      - run: test '${{ inputs.text }}/${{ inputs.text_default }}' = given/the-default
      - run: test '${{ tojson(inputs.flag) }}/${{ tojson(inputs.flag_default) }}' = true/true
      - run: test '${{ tojson(inputs.number) }}/${{ tojson(inputs.number_default) }}' = 1/1
      - run: test '${{ secrets.secret }}' = keep_it_private
      - run: test '${{ github.event_name }}' = push
      - id: o
        run: echo "value=${{ inputs.text }}" >> "$GITHUB_OUTPUT"
)";

} // namespace

TEST_CASE("act runs a local reusable workflow with inputs, defaults, secrets (inherit too) and outputs") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(on: push
jobs:
  given:
    uses: ./.forgejo/reusable/called.yml
    with: { text: given, flag: "${{ true }}", number: 1 }
    secrets: { secret: keep_it_private }
  inherited:
    uses: ./.forgejo/reusable/called.yml
    with: { text: given, flag: "${{ true }}", number: 1 }
    secrets: inherit
  check:
    needs: [given, inherited]
    runs-on: self-hosted
    steps:
      - run: test '${{ needs.given.outputs.output }}/${{ needs.inherited.outputs.output }}' = given/given
)");
  test::write(dir / "ws/.forgejo/reusable/called.yml", k_reusable);
  auto r = act(dir, {"--secret", "secret=keep_it_private"});
  CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err));
  CHECK(contains(r.out, "[given/inner] job succeeded"));
  CHECK(contains(r.out, "[check] job succeeded"));

  SUBCASE("a wrong secret fails the calling job with act's message") {
    auto f = act(dir, {"--secret", "secret=other"});
    CHECK(f.exit_code == 1);
    CHECK(contains(f.out, "Error: Job 'inherited' failed"));
    CHECK(contains(f.out, "[check] job skipped"));
  }
  SUBCASE("a dry run runs nothing") {
    auto n = act(dir, {"-n", "--secret", "secret=keep_it_private"});
    CHECK(n.exit_code == 0);
    CHECK(contains(n.out, "*DRYRUN* [given/inner/Run test"));
  }
}

TEST_CASE("act runs a remote reusable workflow cloned into the cache by commit, and reports one it cannot reach") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(on: push
jobs:
  remote:
    uses: some-org/some-repo/.forgejo/workflows/build.yml@v1
    with: { who: world }
    secrets: inherit
  after:
    needs: remote
    runs-on: self-hosted
    steps:
      - run: test '${{ needs.remote.outputs.said }}' = 'hello world'
)");
  auto l = act(dir, {"-l"});
  CHECK(l.exit_code == 0);
  CHECK(contains(l.out, "remote"));
  SUBCASE("no network: one line naming the repository and git's reason") {
    auto r = act(dir, {});
    CHECK(r.exit_code == 1);
    CHECK(contains(r.out, "[remote] 'some-org/some-repo/.forgejo/workflows/build.yml@v1' is not runnable locally: "
                          "cannot fetch https://data.forgejo.org/some-org/some-repo@v1: "));
    CHECK(contains(r.out, "[after] job skipped"));
    CHECK(contains(r.out, "Error: Job 'remote' failed"));
  }
  SUBCASE("a server that answers (a local repository as the actions URL)") {
    std::filesystem::path repo = dir / "server/some-org/some-repo";
    test::write(repo / ".forgejo/workflows/build.yml", R"(on:
  workflow_call:
    inputs: { who: { required: true, type: string } }
    outputs: { said: { value: "${{ jobs.say.outputs.said }}" } }
jobs:
  say:
    runs-on: self-hosted
    outputs: { said: "${{ steps.s.outputs.said }}" }
    steps:
      - run: test '${{ secrets.token }}' = abcdefgh
      - id: s
        run: echo "said=hello ${{ inputs.who }}" >> "$GITHUB_OUTPUT"
)");
    std::string commit = commit_and_tag(repo);
    auto r = act_served(dir, {"--secret", "token=abcdefgh"});
    CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err));
    CHECK(contains(r.out, "[remote/say] job succeeded"));
    CHECK(std::filesystem::exists(dir / "cache/remote-actions" / (dir / "server").relative_path() /
                                  "some-org/some-repo" / commit / ".forgejo/workflows/build.yml"));
    // Named by that commit, the workflow is used from the cache: the server is gone.
    std::filesystem::remove_all(dir / "server");
    std::string ci = test::read(dir / "ws/.forgejo/workflows/ci.yml");
    ci.replace(ci.find("@v1"), 3, "@" + commit);
    test::write(dir / "ws/.forgejo/workflows/ci.yml", ci);
    auto again = act_served(dir, {"--secret", "token=abcdefgh"});
    CHECK_MESSAGE(again.exit_code == 0, (again.out + again.err));
  }
}

TEST_CASE("act clones a remote action into the cache pinned by commit, and reports one it cannot reach") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(on: push
jobs:
  build:
    runs-on: self-hosted
    steps:
      - id: hi
        uses: some-org/hello/sub@v1
        with: { who: world }
      - run: test '${{ steps.hi.outputs.said }}' = 'hello world'
)");
  SUBCASE("no network: one line naming the repository and git's reason") {
    auto r = act(dir, {});
    CHECK(r.exit_code == 1);
    CHECK(contains(r.out, "[build/Run some-org/hello/sub@v1 (hi)] 'some-org/hello/sub@v1' is not runnable locally: cannot fetch "
                          "https://data.forgejo.org/some-org/hello@v1: "));
    CHECK(contains(r.out, "Error: Job 'build' failed"));
  }
  SUBCASE("a server that answers (a local repository as the actions URL)") {
    std::filesystem::path repo = dir / "server/some-org/hello";
    test::write(repo / "sub/action.yml", R"(inputs: { who: {} }
outputs: { said: { value: "${{ steps.say.outputs.said }}" } }
runs:
  using: composite
  steps:
    - id: say
      shell: bash
      run: echo "said=hello ${{ inputs.who }}" >> "$GITHUB_OUTPUT"
)");
    auto r = act_with_actions_from(dir, repo);
    CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err));
    CHECK(std::filesystem::exists(dir / "cache/remote-actions" / (dir / "server").relative_path() / "some-org/hello"));
  }
}

TEST_CASE("act runs a remote JavaScript action's pre stage before every step, its state reaching main and post") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(on: push
jobs:
  build:
    runs-on: self-hosted
    steps:
      - run: echo "first step"
      - uses: some-org/js@v1
        with: { who: world }
)");
  std::filesystem::path repo = dir / "server/some-org/js";
  test::write(repo / "action.yml", "inputs: { who: {} }\nruns:\n  using: node20\n  pre: pre.js\n  main: main.js\n  post: post.js\n");
  test::write(repo / "pre.js", "console.log(`pre for ${process.env.INPUT_WHO}`);\n"
                               "console.log('::save-state name=from_pre::pre-state');\n");
  test::write(repo / "main.js", "console.log(`main sees ${process.env.STATE_from_pre}`);\n");
  test::write(repo / "post.js", "console.log(`post sees ${process.env.STATE_from_pre}`);\n");
  auto r = act_with_actions_from(dir, repo);
  CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err));
  auto pre = r.out.find("pre for world"), first = r.out.find("first step"), main = r.out.find("main sees pre-state"),
       post = r.out.find("post sees pre-state");
  REQUIRE(pre != std::string::npos);
  REQUIRE(main != std::string::npos);
  REQUIRE(post != std::string::npos);
  CHECK(pre < first);
  CHECK(first < main);
  CHECK(main < post);
}

TEST_CASE("act takes github.sha and github.ref from the workspace's git checkout, as act does") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(on: push
jobs:
  build:
    runs-on: self-hosted
    steps:
      - run: echo "${{ github.sha }} ${{ github.ref }} ${{ github.ref_name }}" > "$RUNNER_TEMP/../seen"; cat "$RUNNER_TEMP/../seen"
)");
  auto git = [&](const std::string& args) {
    auto r = test::sh("cd '" + (dir / "ws").string() + "' && git -c user.name=t -c user.email=t@t " + args);
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    return r.out;
  };
  // git looks no higher than the test dir, wherever that is.
  test::CommandOptions options;
  options.env["GIT_CEILING_DIRECTORIES"] = dir.path().string();
  auto act = [&](const TestDir& d, std::vector<std::string> args) {
    args.insert(args.begin(), {"act", "-C", (d / "ws").string()});
    return test::akbuild(d, args, options);
  };
  SUBCASE("not a git checkout: act's placeholders") {
    auto r = act(dir, {});
    CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err));
    CHECK(contains(r.out, std::string(40, '0') + " refs/heads/main main"));
  }
  SUBCASE("on a branch: its commit and its full name") {
    git("init -q -b topic && git add -A && git -c user.name=t -c user.email=t@t commit -qm one");
    std::string sha = git("rev-parse HEAD");
    sha.erase(sha.find_last_not_of('\n') + 1);
    auto r = act(dir, {});
    CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err));
    CHECK(contains(r.out, sha + " refs/heads/topic topic"));
  }
  SUBCASE("a detached HEAD: its commit, no branch") {
    git("init -q -b topic && git add -A && git -c user.name=t -c user.email=t@t commit -qm one && git checkout -q --detach");
    std::string sha = git("rev-parse HEAD");
    sha.erase(sha.find_last_not_of('\n') + 1);
    auto r = act(dir, {});
    CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err));
    CHECK(contains(r.out, sha + " refs/heads/main main"));
  }
  SUBCASE("an unborn branch: no commit yet, the branch's name") {
    git("init -q -b fresh");
    auto r = act(dir, {});
    CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err));
    CHECK(contains(r.out, std::string(40, '0') + " refs/heads/fresh fresh"));
  }
}

TEST_CASE("an action sees the repository and ref its uses: names (github.action_repository, GITHUB_ACTION_REF), empty when local") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"(on: push
jobs:
  build:
    runs-on: self-hosted
    steps:
      - uses: some-org/both@v1
      - uses: some-org/both/js@v1
      - uses: ./local-js
)");
  std::filesystem::path repo = dir / "server/some-org/both";
  test::write(repo / "action.yml", R"(runs:
  using: composite
  steps:
    - shell: bash
      run: echo "composite ${{ github.action_repository }} ${{ github.action_ref }} $GITHUB_ACTION_REPOSITORY $GITHUB_ACTION_REF"
)");
  const char* js = "const e = process.env;\n"
                   "if (!('GITHUB_ACTION_REPOSITORY' in e && 'GITHUB_ACTION_REF' in e)) process.exit(1);\n"
                   "console.log(`js [${e.GITHUB_ACTION_REPOSITORY}] [${e.GITHUB_ACTION_REF}]`);\n";
  test::write(repo / "js/action.yml", "runs: { using: node20, main: index.js }\n");
  test::write(repo / "js/index.js", js);
  test::write(dir / "ws/local-js/action.yml", "runs: { using: node20, main: index.js }\n");
  test::write(dir / "ws/local-js/index.js", js);
  auto r = act_with_actions_from(dir, repo);
  CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err));
  CHECK(contains(r.out, "] composite some-org/both v1 some-org/both v1\n"));
  CHECK(contains(r.out, "] js [some-org/both] [v1]\n"));
  CHECK(contains(r.out, "] js [] []\n"));
}
