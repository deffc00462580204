#pragma once
// `akbuild act --step ID`, like `nix-build -A`: of the job holding the step, only that step, the
// akbuild steps it depends on (its `deps:`, transitively) and the other steps before it (`run:`
// steps and actions, whose effects akbuild cannot see) run; the jobs it needs run whole.

#include <cstddef>
#include <functional>
#include <set>
#include <string_view>

#include "runner/core/result.hh"
#include "runner/workflow/workflow.hh"

namespace akbuild::workflow {

// The indexes of the steps of `job` that run for `step_id`: that step; transitively, the steps
// the `with: deps:` of an akbuild step names (a YAML/JSON list or one id per line, as akbuild
// steps take it; an unnamed akbuild step is "<job>-<n>"); and the steps before it for which
// `is_akbuild` is false. not_found when no step of the job has the id.
Result<std::set<std::size_t>> steps_for(const Job& job, std::string_view step_id,
                                        const std::function<bool(const WorkflowStep&)>& is_akbuild);

} // namespace akbuild::workflow
