// Workflow and action YAML (runner/workflow/workflow.hh), with the matrix of every job expanded.
#include "fuzz/fuzz_support.hh"
#include "runner/workflow/matrix.hh"
#include "runner/workflow/workflow.hh"

using namespace akbuild;
using namespace akbuild::workflow;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto yaml = fuzz::text(data, size);
  if (auto wf = parse_workflow(yaml, "fuzz.yml")) {
    (void)job_stages(*wf);
    for (const auto& job : wf->jobs) {
      if (auto combos = expand_matrix(job.strategy.matrix))
        for (const auto& c : *combos) (void)matrix_label(c);
      for (const auto& step : job.steps) (void)step.display_name();
    }
  }
  (void)parse_action(yaml, "action.yml");
  return 0;
}
