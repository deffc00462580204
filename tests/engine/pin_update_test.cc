// `akbuild pin update` over a workflow, as a user runs it: every fetch step's `with:` evaluated
// as `akbuild act` would (env, matrix), old -> new with the files that changed, --check for CI,
// and the hints akbuild prints run as they are printed.
#include <doctest/doctest.h>

#include "tests/support/test_support.hh"

using namespace akbuild;
namespace fs = std::filesystem;

namespace {

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

// The first `...` command in `text` that starts with "akbuild pin update".
std::string hint_in(const std::string& text) {
  auto at = text.find("`akbuild pin update");
  if (at == std::string::npos) return {};
  auto end = text.find('`', at + 1);
  return text.substr(at + 1, end - at - 1);
}

// Runs a printed command line through the shell, with this build's akbuild first on PATH and the
// test's cache dir, as a user would paste it.
test::CommandResult run_hint(const test::TestDir& dir, const std::string& command) {
  test::CommandOptions o;
  o.env["PATH"] = test::akbuild_bin().parent_path().string() + ":" + std::getenv("PATH");
  o.env["AKBUILD_CACHE_DIR"] = (dir / "cache").string();
  o.env["HOME"] = (dir / "home").string();
  o.env["XDG_RUNTIME_DIR"] = (dir / "run").string();
  o.env["AKBUILD_EXECUTOR"] = "none";
  return test::sh(command, o);
}

constexpr const char* k_workflow = R"(name: ci
on: push
env:
  GREETING: hello
jobs:
  fetch:
    runs-on: host
    strategy:
      matrix:
        series: ["1"]
    steps:
      - run: echo a run step is not run by pin update > ran.txt
      - id: deps
        uses: akbuild/step@v1
        with:
          kind: exec
          fetch: true
          inputs: src.txt
          outputs: vendor/
          run: mkdir -p vendor; echo "${{ env.GREETING }}-${{ matrix.series }}" > vendor/dep.txt; cp src.txt vendor/src.txt
      - id: tools
        uses: akbuild/step@v1
        with:
          kind: exec
          fetch: true
          outputs: tools/
          run: mkdir -p tools; echo tool > tools/t
      - id: use
        uses: akbuild/step@v1
        with:
          kind: exec
          deps: '["deps"]'
          outputs: out.txt
          run: cat vendor/dep.txt > out.txt
)";

} // namespace

TEST_CASE("pin update reads the workflow, pins every fetch step, reuses unchanged ones and --check finds stale ones") {
  test::TestDir dir;
  fs::path ws = dir / "ws";
  test::write(ws / ".forgejo/workflows/ci.yml", k_workflow);
  test::write(ws / "src.txt", "v1\n");

  // A run without pins fails on the fetch step, naming the command that pins it; that command works.
  auto act = test::akbuild(dir, {"act", "-C", ws.string()});
  INFO(act.out, act.err);
  CHECK(act.exit_code == 1);
  fs::remove(ws / "ran.txt");
  auto hint = hint_in(act.out);
  REQUIRE(!hint.empty());
  CHECK(hint == "akbuild pin update -C " + ws.string() + " --id deps");
  auto hinted = run_hint(dir, hint);
  INFO(hinted.out, hinted.err);
  REQUIRE(hinted.exit_code == 0);
  CHECK(contains(hinted.out, "pin deps: updated: none -> sha256-"));
  CHECK(!contains(hinted.out, "pin tools"));  // only the one named
  CHECK(!fs::exists(ws / "ran.txt"));
  auto lock = test::read(ws / "akbuild.lock");
  CHECK(contains(lock, "\"deps\""));
  CHECK(!contains(lock, "\"tools\""));

  // --check: a missing pin is stale (exit 1, nothing written), and the command it names updates it.
  auto check = test::akbuild(dir, {"pin", "update", "--check", "-C", ws.string()});
  INFO(check.out, check.err);
  CHECK(check.exit_code == 1);
  CHECK(contains(check.out, "pin tools: stale: none -> sha256-"));
  CHECK(contains(check.out, "pin deps: sha256-"));
  CHECK(test::read(ws / "akbuild.lock") == lock);
  auto all = run_hint(dir, hint_in(check.out));
  INFO(all.out, all.err);
  REQUIRE(all.exit_code == 0);
  CHECK(contains(all.out, "pin deps: sha256-"));
  CHECK(contains(all.out, "(unchanged, its inputs are those of its last fetch)"));
  CHECK(contains(all.out, "pin tools: updated: none -> sha256-"));
  lock = test::read(ws / "akbuild.lock");

  // Nothing changed: every pin stands, nothing is fetched, --check passes and the build runs.
  auto same = test::akbuild(dir, {"pin", "update", "--check", "-C", ws.string()});
  INFO(same.out, same.err);
  CHECK(same.exit_code == 0);
  CHECK(test::read(ws / "akbuild.lock") == lock);
  auto build = test::akbuild(dir, {"act", "-C", ws.string()});
  INFO(build.out, build.err);
  CHECK(build.exit_code == 0);
  CHECK(test::read(ws / "out.txt") == "hello-1\n");

  // The env the workflow gives (here from --env, over the workflow's) reaches the step, and an
  // input changed: the pin moves, printing old -> new and the files that differ.
  test::write(ws / "src.txt", "v2\n");
  auto moved = test::akbuild(dir, {"pin", "update", "-C", ws.string(), "--env", "GREETING=bonjour"});
  INFO(moved.out, moved.err);
  CHECK(moved.exit_code == 0);
  CHECK(contains(moved.out, "pin deps: updated: sha256-"));
  CHECK(contains(moved.out, "  changed: vendor/dep.txt"));
  CHECK(contains(moved.out, "  changed: vendor/src.txt"));
  CHECK(contains(moved.out, "pin tools: sha256-"));
  CHECK(test::read(ws / "vendor/dep.txt") == "bonjour-1\n");
  CHECK(test::read(ws / "akbuild.lock") != lock);
}

TEST_CASE("pin update names what is wrong with --id and -W in one line, exit 2") {
  test::TestDir dir;
  fs::path ws = dir / "ws";
  test::write(ws / ".forgejo/workflows/ci.yml", k_workflow);
  test::write(ws / "src.txt", "v1\n");
  auto unknown = test::akbuild(dir, {"pin", "update", "-C", ws.string(), "--id", "nope"});
  CHECK(unknown.exit_code == 2);
  CHECK(contains(unknown.err, "pin update: --id nope: no such step (fetch steps: deps, tools)"));
  auto not_fetch = test::akbuild(dir, {"pin", "update", "-C", ws.string(), "--id", "use"});
  CHECK(not_fetch.exit_code == 2);
  CHECK(contains(not_fetch.err, "pin update: --id use: exec step is not a fetch step (fetch steps: deps, tools)"));
  auto no_workflow = test::akbuild(dir, {"pin", "update", "-C", ws.string(), "-W", "missing.yml"});
  CHECK(no_workflow.exit_code == 2);
  CHECK(contains(no_workflow.err, "missing.yml: no such file or directory"));
  CHECK(!fs::exists(ws / "akbuild.lock"));
}

TEST_CASE("pin update: a step id a matrix makes into two steps is an error; --matrix and --job choose") {
  test::TestDir dir;
  fs::path ws = dir / "ws";
  std::string wf = k_workflow;
  wf.replace(wf.find("series: [\"1\"]"), 13, "series: [\"1\", \"2\"]");
  wf += R"(  other:
    runs-on: host
    steps:
      - id: elsewhere
        uses: akbuild/step@v1
        with: { kind: exec, fetch: true, outputs: e/, run: mkdir -p e; echo e > e/e }
)";
  test::write(ws / ".forgejo/workflows/ci.yml", wf);
  test::write(ws / "src.txt", "v1\n");
  auto both = test::akbuild(dir, {"pin", "update", "-C", ws.string(), "--check"});
  CHECK(both.exit_code == 2);
  CHECK(contains(both.err, "step 'deps' is a different step in job 'fetch ("));
  CHECK(contains(both.err, "give each its own id"));
  auto one = test::akbuild(dir, {"pin", "update", "-C", ws.string(), "--matrix", "series:2", "--job", "fetch"});
  INFO(one.out, one.err);
  CHECK(one.exit_code == 0);
  CHECK(test::read(ws / "vendor/dep.txt") == "hello-2\n");
  CHECK(contains(one.out, "pin deps: updated: none -> "));
  CHECK(!contains(one.out, "elsewhere"));
}
