#pragma once
// Running one keyed step through the cache: a hit is verified and materialized; a miss takes
// the action's lock (in-process mutex, then a FileLock on the cache dir, so identical actions in
// flight run once across processes), re-checks the cache, stages the inputs into a temp input
// root under the cache's tmp dir, runs the kind in the sandbox, stores the outputs, and only
// then writes the ActionResult. A kill at any point leaves no partial cache entry.

#include <optional>
#include <string>
#include <vector>

#include "akbuild/v1/cache.pb.h"
#include "runner/engine/engine.hh"
#include "runner/engine/planner.hh"
#include "runner/engine/scheduler.hh"

namespace akbuild::cas {
class CacheDir;
}

namespace akbuild::engine {

struct RunEnv {
  cas::CacheDir& cache;
  const EngineOptions& options;
  std::filesystem::path workspace;
  std::string platform;
  EventSink& events;
  const exec::CancelToken* cancel = nullptr;
  KeyLocks& locks;
};

struct StepRun {
  StepResult result;
  std::optional<v1::ActionResult> action;  // the stored result (outputs for dependents)
};

// Keys, then runs or hits `step`. Never fails as a call: errors land in result.error.
StepRun execute_step(RunEnv& env, const PreparedStep& step, const std::vector<const v1::ActionResult*>& dep_results,
                     const std::vector<const PreparedStep*>& dep_steps);

// Outputs listed in ActionResult.values under this key (one per line) are single files or
// symlinks; the rest are directories.
inline constexpr const char* k_file_outputs_value = "_akbuild_file_outputs";

// Removes temp run dirs under the cache's tmp dir that no live process holds (left by a kill).
void clean_stale_runs(cas::CacheDir& cache);

} // namespace akbuild::engine
