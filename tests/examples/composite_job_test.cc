// action/action.yml run as forgejo-runner runs a composite action (composite_job.hh), on a small
// workflow: the step id, a dashed input, and deps on an earlier step of the job.
#include <doctest/doctest.h>

#include "tests/examples/composite_job.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
namespace fs = std::filesystem;

TEST_CASE("action.yml under a runner: workflow step ids, dashed inputs and deps on an earlier step") {
  test::TestDir dir;
  fs::create_directories(dir / "ws");
  test::write(dir / "ws/.forgejo/workflows/ci.yml", R"yaml(on: push
jobs:
  build:
    runs-on: host
    steps:
      - id: gen
        uses: akbuild/step@v1
        with:
          kind: exec
          run: mkdir -p out && echo made > out/a.txt
          outputs: out/
      - id: use
        uses: akbuild/step@v1
        with:
          kind: exec
          deps: '["gen"]'
          working-directory: out
          run: cat a.txt > ../copy.txt
          outputs: copy.txt
      - run: echo "use hit=${{ steps.use.outputs.cache-hit }} key=${{ steps.use.outputs.key }}"
)yaml");
  auto run = test::run_job_as_runner(dir / "ws/.forgejo/workflows/ci.yml", "build", dir / "ws",
                                     test::source_root() / "action", dir / "runner-temp",
                                     test::runner_env(dir.path(), dir / "cache"));
  REQUIRE_MESSAGE(run.ok, run.log);
  CHECK(test::read(dir / "ws/copy.txt") == "made\n");
  // The ids are the workflow's (not the composite's own step id, "akbuild").
  CHECK_MESSAGE(run.log.find("::group::akbuild exec use") != std::string::npos, run.log);
  CHECK(run.log.find("::group::akbuild exec akbuild") == std::string::npos);
  // The earlier step came along as a hit, named as itself; the outputs are this step's.
  CHECK_MESSAGE(run.log.find("akbuild: gen: hit ") != std::string::npos, run.log);
  CHECK(run.outputs["use"]["cache-hit"] == "false");
  CHECK(run.outputs["use"]["key"].size() == 64);
  CHECK(run.outputs["use"]["key"] != run.outputs["gen"]["key"]);
  CHECK(fs::exists(dir / "runner-temp/akbuild-jobs/7-1-build.json"));
}
