// The example stack built every way a user can build it, each in its own copy and cache.
#include <doctest/doctest.h>

#include "tests/examples/composite_job.hh"
#include "tests/examples/stack_support.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;

TEST_CASE("the example stack gives one image digest step by step, through akbuild act, and as a runner runs the action") {
  for (const char* tool : {"npm", "node", "go"}) {
    if (!test::have_program(tool)) return test::skip(std::string(tool) + " is not installed");
  }
  // Each mode in its own copy with its own cache: nothing is shared but the sources.
  test::TestDir dir;
  test::copy_stack(dir, "by-step");
  test::copy_stack(dir, "by-act");
  test::copy_stack(dir, "by-runner");
  // The workflow's akbuild steps as action/action.yml's composite step, one akbuild process
  // each, as forgejo-runner runs them: deps, dashed inputs and step ids must carry over.
  auto by_runner = test::run_job_as_runner(dir / "by-runner/.forgejo/workflows/build.yaml", "image", dir / "by-runner",
                                           test::source_root() / "action", dir / "runner-temp",
                                           test::runner_env(dir.path(), dir / "cache-runner"));
  REQUIRE_MESSAGE(by_runner.ok, by_runner.log);
  auto by_step = test::run_main(dir, "by-step", "cache-step", "step");
  REQUIRE_MESSAGE(by_step.exit_code == 0, (by_step.out + by_step.err));
  auto by_act = test::run_main(dir, "by-act", "cache-act", "act");
  REQUIRE_MESSAGE(by_act.exit_code == 0, (by_act.out + by_act.err));
  auto digest = test::image_digest(dir, "by-step");
  CHECK(test::image_digest(dir, "by-act") == digest);
  CHECK(test::image_digest(dir, "by-runner") == digest);
  CHECK(by_runner.outputs["image"]["digest"] == digest);
  CHECK(by_runner.outputs["image"]["cache-hit"] == "false");
  // The pins and explain history are under the workflow's step ids, not the composite's.
  CHECK_MESSAGE(by_runner.log.find("akbuild python-deps venv") != std::string::npos, by_runner.log);
}
