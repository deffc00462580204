#include <doctest/doctest.h>

#include "runner/workflow/step_selection.hh"

using namespace akbuild;
using namespace akbuild::workflow;

namespace {

Job job_of(const std::string& steps_yaml) {
  auto wf = parse_workflow("on: push\njobs:\n  build:\n    runs-on: x\n    steps:\n" + steps_yaml, "ci.yml");
  REQUIRE_MESSAGE(wf, (wf ? "" : wf.error().message));
  return wf->jobs[0];
}

bool is_akbuild(const WorkflowStep& s) { return s.uses.starts_with("akbuild/step@"); }

} // namespace

TEST_CASE("steps_for takes the step, what its deps name, transitively, in either list form, and the run steps before it") {
  Job job = job_of(R"(      - run: echo setup
      - id: api
        uses: akbuild/step@v1
        with: {kind: exec}
      - uses: akbuild/step@v1
        with: {kind: exec}
      - id: deps
        uses: akbuild/step@v1
        with: {kind: exec, deps: "build-3"}
      - id: other
        uses: akbuild/step@v1
        with: {kind: exec}
      - id: web
        uses: akbuild/step@v1
        with:
          kind: exec
          deps: '["api", "deps"]'
      - id: lines
        uses: akbuild/step@v1
        with:
          kind: exec
          deps: |
            web
            other
      - id: after
        run: echo after
)");
  CHECK(*steps_for(job, "web", is_akbuild) == std::set<std::size_t>{0, 1, 2, 3, 5});
  CHECK(*steps_for(job, "lines", is_akbuild) == std::set<std::size_t>{0, 1, 2, 3, 4, 5, 6});
  CHECK(*steps_for(job, "other", is_akbuild) == std::set<std::size_t>{0, 4});
  CHECK(*steps_for(job, "after", is_akbuild) == std::set<std::size_t>{0, 7});
  auto missing = steps_for(job, "nope", is_akbuild);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == ErrorCode::not_found);
  CHECK(missing.error().message == "job 'build' has no step with id 'nope'");
  // An unnamed step's engine id is not a step id a user can name.
  CHECK_FALSE(steps_for(job, "build-3", is_akbuild));
}

TEST_CASE("steps_for stops at a deps cycle") {
  Job job = job_of(R"(      - id: a
        uses: akbuild/step@v1
        with: {kind: exec, deps: '[b]'}
      - id: b
        uses: akbuild/step@v1
        with: {kind: exec, deps: '[a]'}
)");
  CHECK(*steps_for(job, "b", is_akbuild) == std::set<std::size_t>{0, 1});
}
