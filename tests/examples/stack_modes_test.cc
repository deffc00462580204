// The example stack built both ways a user can build it, each in its own copy and cache.
#include <doctest/doctest.h>

#include "tests/examples/stack_support.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;

TEST_CASE("the example stack gives one image digest built step by step and through akbuild act") {
  for (const char* tool : {"npm", "node", "go"}) {
    if (!test::have_program(tool)) return test::skip(std::string(tool) + " is not installed");
  }
  // Each mode in its own copy with its own cache: nothing is shared but the sources.
  test::TestDir dir;
  test::copy_stack(dir, "by-step");
  test::copy_stack(dir, "by-act");
  auto by_step = test::run_main(dir, "by-step", "cache-step", "step");
  REQUIRE_MESSAGE(by_step.exit_code == 0, (by_step.out + by_step.err));
  auto by_act = test::run_main(dir, "by-act", "cache-act", "act");
  REQUIRE_MESSAGE(by_act.exit_code == 0, (by_act.out + by_act.err));
  CHECK(test::image_digest(dir, "by-step") == test::image_digest(dir, "by-act"));
}
