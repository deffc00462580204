#pragma once
// Running one keyed step through the cache: a hit is verified and materialized; a miss takes
// the action's lock (in-process mutex, then a FileLock on the cache dir, so identical actions in
// flight run once across processes), re-checks the cache, stages the inputs into a temp input
// root under the cache's tmp dir, runs the kind in the sandbox, stores the outputs, and only
// then writes the action record. A kill at any point leaves no partial cache entry.

#include <optional>
#include <string>
#include <vector>

#include "runner/cas/action_record.hh"
#include "runner/engine/planner.hh"
#include "runner/engine/step_run_context.hh"

namespace akbuild::engine {

struct StepRun {
  StepResult result;
  std::optional<cas::ActionRecord> action;  // the stored result (outputs for dependents)
};

// Keys, then runs or hits `step`. Never fails as a call: errors land in result.error.
StepRun execute_step(RunEnv& env, const PreparedStep& step, const std::vector<const cas::ActionRecord*>& dep_results,
                     const std::vector<const PreparedStep*>& dep_steps);

// Removes temp run dirs under the cache's tmp dir that no live process holds (left by a kill).
void clean_stale_runs(cas::CacheDir& cache);

} // namespace akbuild::engine
