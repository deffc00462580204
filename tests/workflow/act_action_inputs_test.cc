// `akbuild act` takes the akbuild/step action's own inputs (action/action.yml) as a runner would
// pass them to the action, so one workflow serves both.
#include <doctest/doctest.h>

#include "tests/support/test_support.hh"
#include "tests/workflow/act_support.hh"

using namespace akbuild;
using test::act;
using test::TestDir;

TEST_CASE("act takes the action's id, explain, mask, executor and akbuild inputs on an akbuild step") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"yaml(on: push
jobs:
  build:
    runs-on: self-hosted
    steps:
      - id: first
        uses: akbuild/step@v1
        with:
          kind: exec
          id: made
          explain: 'true'
          mask: hunter2x
          executor: none
          akbuild: akbuild
          run: echo hunter2x > out.txt
          outputs: out.txt
      - id: second
        uses: akbuild/step@v1
        with:
          kind: exec
          deps: '["made"]'
          run: cat out.txt > copy.txt
          outputs: copy.txt
      - run: echo "copied $(cat copy.txt)"
)yaml");
  auto r = act(dir, {});
  REQUIRE_MESSAGE(r.exit_code == 0, (r.out + r.err));
  CHECK(test::read(dir / "ws/copy.txt") == "hunter2x\n");
  CHECK_MESSAGE(r.out.find("copied ***") != std::string::npos, r.out);
  CHECK_MESSAGE(r.out.find("hunter2x") == std::string::npos, r.out);
}

TEST_CASE("act refuses an explain input that is not true or false, naming it") {
  TestDir dir;
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"yaml(on: push
jobs:
  build:
    runs-on: self-hosted
    steps:
      - uses: akbuild/step@v1
        with: { kind: exec, explain: 'maybe', run: 'true' }
)yaml");
  auto r = act(dir, {});
  CHECK(r.exit_code != 0);
  CHECK_MESSAGE(r.out.find("with.explain: 'maybe' is not true or false") != std::string::npos, (r.out + r.err));
}
