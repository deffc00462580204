#pragma once
// Runs one job of a workflow the way forgejo-runner's act code runs it on a host, with
// `uses: akbuild/step@...` steps run as the composite action in action/action.yml (not handed
// to akbuild as `akbuild act` does). What it follows, from act/runner in forgejo-runner:
// - every step sees CI, GITHUB_*/FORGEJO_* (RUN_ID, RUN_ATTEMPT, JOB, ACTION, ACTION_PATH,
//   WORKSPACE, OUTPUT, ENV...) and RUNNER_TEMP; GITHUB_ACTION is the running step's id (a
//   step without one gets its index), inside a composite the inner step's id;
// - a `uses:` step's with: keys become INPUT_<NAME> (upper-cased, [^A-Z0-9-] as '_', so
//   dashes stay); the composite gets INPUT_ only for the inputs action.yml declares: the with:
//   value when given under that exact name, else the default evaluated in the workflow step's
//   context; its `inputs` context is those names lower-cased;
// - GITHUB_OUTPUT and GITHUB_ENV are fresh files per step, read back after it; the action's
//   outputs are its `outputs:` templates evaluated against the composite's steps.

#include <filesystem>
#include <map>
#include <string>

namespace akbuild::test {

struct JobRun {
  bool ok = false;
  std::string log;                                               // every step's output, in order
  std::map<std::string, std::map<std::string, std::string>> outputs;  // step id → its outputs
};

// What a runner host's steps need here: akbuild and the npm tools on PATH, the cache `cache`,
// in-process steps (no daemon), HOME under `dir`.
std::map<std::string, std::string> runner_env(const std::filesystem::path& dir, const std::filesystem::path& cache);

// Runs job `job` of `workflow` in `workspace`, the action from `action_dir`, RUNNER_TEMP
// `runner_temp`; `env` is added to every step's environment (PATH, the cache dir).
JobRun run_job_as_runner(const std::filesystem::path& workflow, const std::string& job,
                         const std::filesystem::path& workspace, const std::filesystem::path& action_dir,
                         const std::filesystem::path& runner_temp, const std::map<std::string, std::string>& env);

} // namespace akbuild::test
