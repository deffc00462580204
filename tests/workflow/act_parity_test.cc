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

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

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
  CHECK_MESSAGE(has(r.out, "*DRYRUN* [b/Run akbuild/step@v1 (one)] akbuild exec: key "), r.out);
  CHECK(has(r.out, "*DRYRUN* [b/Run akbuild/step@v1 (one)] success\n"));
  CHECK(has(r.out, "*DRYRUN* [b/Run akbuild/step@v1 (two)] step 'two': tool: no-such-tool-akb: not found"));
  CHECK(has(r.out, "*DRYRUN* [b/Run akbuild/step@v1 (two)] failure\n"));
  CHECK(has(r.out, "*DRYRUN* [b/Run akbuild/step@v1 (three)] skipped\n"));
  std::size_t named = 0;
  for (std::size_t at = r.out.find("no-such-tool-akb: not found"); at != std::string::npos;
       at = r.out.find("no-such-tool-akb: not found", at + 1))
    ++named;
  CHECK(named == 1);
}
