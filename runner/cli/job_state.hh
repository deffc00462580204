#pragma once
// The akbuild steps a workflow job has run so far, so that a later step's `deps:` resolve
// although a stock runner starts one `akbuild step` process per `uses: akbuild/step` step.
// One JSON file per job, $RUNNER_TEMP/akbuild-jobs/<run id>-<attempt>-<job>.json, mapping each
// step id to its request (kind and with:), rewritten atomically after each step that succeeded.
// A later step sends the earlier requests it names in deps (transitively) along with its own:
// they hit the cache and give the engine the dependency results the step is keyed by.
//
// Usage:
//   auto state = JobState::from_environment();          // nullopt outside a runner's job
//   auto requests = state ? AK_TRY(state->with_deps(request)) : std::vector{request};
//   ... run ...; if (state) AK_TRY_VOID(state->record(request));

#include <filesystem>
#include <optional>
#include <vector>

#include "runner/core/result.hh"
#include "runner/engine/engine.hh"

namespace akbuild::cli {

class JobState {
public:
  explicit JobState(std::filesystem::path file) : m_file(std::move(file)) {}
  // The state of the job named by RUNNER_TEMP, GITHUB_RUN_ID, GITHUB_RUN_ATTEMPT (default 1) and
  // GITHUB_JOB; nullopt when RUNNER_TEMP, GITHUB_RUN_ID or GITHUB_JOB is unset or empty.
  static std::optional<JobState> from_environment();

  // The earlier steps `request` names in deps, transitively and in dependency order, then
  // `request`; a dep the job has not run is left for the engine to name. invalid_argument when
  // the file is damaged or a dep was given a masked value (those never reach disk).
  Result<std::vector<engine::StepRequest>> with_deps(const engine::StepRequest& request) const;
  // Records `request` under its id, replacing an earlier step of that id. A request holding a
  // registered secret is recorded without its with: values, as one that deps cannot name.
  Result<> record(const engine::StepRequest& request) const;

  const std::filesystem::path& file() const { return m_file; }

private:
  std::filesystem::path m_file;
};

// The step ids `request` names in its with: `deps`, parsed as the kind parses it; invalid_argument
// for an unknown kind or a malformed value.
Result<std::vector<std::string>> declared_deps(const engine::StepRequest& request);

} // namespace akbuild::cli
