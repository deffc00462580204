#pragma once
// `akbuild act`: runs workflows on this machine the way nektos/act and `forgejo-runner exec` do,
// with akbuild steps (`uses: akbuild/step@<ref>`) handed to the engine. Jobs run in `needs`
// order (independent jobs and matrix combinations in parallel), `run:` steps with bash in the
// workspace, `actions/checkout` is taken as done, local composite and JavaScript actions and
// local reusable workflows run, remote actions are cloned into the cache (when the network
// allows), `docker://` fails as not runnable locally. A dry run (-n) runs nothing and says, per step, what would
// happen; akbuild steps show their action key and hit/miss (and why a miss misses with explain).
//
// Output lines are `[job/step] text` (`*DRYRUN* ` in front for dry runs), every secret masked;
// with json, one object per line instead.

#include <filesystem>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "runner/core/result.hh"
#include "runner/workflow/workflow.hh"

namespace akbuild::workflow {

struct ActOptions {
  std::filesystem::path workspace;            // -C; the checkout (GITHUB_WORKSPACE)
  std::string workflows;                      // -W file or folder; default .forgejo/workflows, then .github/workflows
  std::string job;                            // -j: this job (and what it needs)
  bool list = false, graph = false, dry_run = false, explain = false, json = false;
  std::string event_file;                     // -e: the event payload
  std::map<std::string, std::string> inputs, vars, secrets, env, matrix;
  std::filesystem::path cache_dir;
  unsigned engine_jobs = 0;                   // parallel akbuild steps, 0 = cores
};

// The workflow files -W names (a file, or the *.yml/*.yaml in a folder, sorted), resolved against
// the workspace; invalid_argument when there are none.
Result<std::vector<std::filesystem::path>> find_workflow_files(const ActOptions& options);

// act -l: columns Stage, Job ID, Job name, Workflow name, Workflow file, Events, left-aligned,
// each as wide as its longest cell plus two.
std::string list_table(const std::vector<Workflow>& workflows);
// act -g: one box per job, a row per stage, arrows between stages.
std::string stage_graph(const Workflow& workflow);

// Runs act. Returns the exit status (0 success, 1 a job failed); errors are usage and parse
// errors (invalid_argument, exit 2) or failures to start (exit 1).
Result<int> run_act(const ActOptions& options, std::ostream& out);

} // namespace akbuild::workflow
