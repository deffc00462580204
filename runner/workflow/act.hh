#pragma once
// `akbuild act`: runs workflows on this machine the way nektos/act and `forgejo-runner exec` do,
// with akbuild steps (`uses: akbuild/step@<ref>`) handed to the engine. Jobs run in `needs`
// order (independent jobs and matrix combinations in parallel), `run:` steps with bash in the
// workspace, `actions/checkout` is taken as done, composite and JavaScript actions and reusable
// workflows run, remote ones cloned into the cache first (when the network allows), `docker://`
// fails as not runnable locally. A dry run (-n) runs nothing and says, per step, what would
// happen; akbuild steps show their action key and hit/miss (and why a miss misses with explain).
//
// Output lines are `[job/step] text` (`*DRYRUN* ` in front for dry runs), every secret masked;
// with json, one object per line instead.

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "runner/core/result.hh"
#include "runner/engine/engine.hh"
#include "runner/exec/process.hh"
#include "runner/workflow/workflow.hh"

namespace akbuild::workflow {

struct ActOptions {
  std::filesystem::path workspace;            // -C; the checkout (GITHUB_WORKSPACE)
  std::string workflows;                      // -W file or folder; default .forgejo/workflows, then .github/workflows
  std::string event;                          // the positional event; empty: the only one the workflows
                                              // use, else push (act's rule)
  std::string job;                            // -j: this job (and what it needs)
  std::string step;                           // --step: this step id and what it needs (step_selection.hh)
  bool list = false, graph = false, dry_run = false, explain = false, json = false;
  std::string event_file;                     // -e: the event payload
  std::map<std::string, std::string> inputs, vars, secrets, env;
  std::map<std::string, std::set<std::string>> matrix;  // --matrix K:V, the values kept per key
  std::filesystem::path cache_dir;
  unsigned engine_jobs = 0;                   // parallel akbuild steps, 0 = cores
  // Opens the engine akbuild steps run in, once per act run (the CLI's may pick the daemon);
  // unset: engine::Engine::open, in this process.
  std::function<Result<std::unique_ptr<engine::Engine>>(engine::EngineOptions)> open_engine;
  // The command that recomputes a step's pin, for hints (empty: `akbuild pin update`).
  std::string pin_command;
  // With dry_run: each batch of akbuild steps goes here, its `with:` evaluated as a run would
  // (matrix, env, inputs), instead of being planned; the steps count as succeeded. Called from
  // the threads of parallel jobs. `akbuild pin update` reads a workflow's steps this way.
  std::function<void(const std::string& job_id, const std::string& job_label,
                     const std::vector<engine::StepRequest>& steps)>
      collect;

  // For a runner that runs a job it was given (runner/forgejo), unset for `akbuild act`:
  Value github = Value::object();             // github context keys over act's local ones
  Value needs = Value::object();              // needs.<id>.{result,outputs} of jobs outside the workflow
  // Receives every event, masked, as --json would print it, instead of printing anything; plain
  // log lines come as {"event": "log", "prefix", "text"}, and top-level steps announce themselves
  // with {"event": "step_started", "job", "step", "index"} (their step_finished carries "index").
  std::function<void(const Value&)> on_event;
  // Requested from outside (a cancelled task): the running steps are stopped, no other starts,
  // the jobs end cancelled.
  const exec::CancelToken* cancel = nullptr;
};

// The workflow files -W names (a file, or the *.yml/*.yaml in a folder, sorted), resolved against
// the workspace; invalid_argument when there are none.
Result<std::vector<std::filesystem::path>> find_workflow_files(const ActOptions& options);

// act -l: columns Stage, Job ID, Job name, Workflow name, Workflow file, Events, left-aligned,
// each as wide as its longest cell plus two.
std::string list_table(const std::vector<Workflow>& workflows);
// act -l --json: one object per job and line, in the order of the table:
//   {"stage": 0, "job_id": "build", "job_name": "build", "workflow_name": "CI",
//    "workflow_file": "ci.yml", "workflow_path": ".forgejo/workflows/ci.yml",
//    "events": ["push"], "needs": [], "uses": ""}
// `uses` is the called workflow of a reusable workflow's job, else "".
std::string list_json(const std::vector<Workflow>& workflows);
// The event act runs when none is named: the only event of all the workflows, else push.
std::string default_event(const std::vector<Workflow>& workflows);
// Whether `wf` runs on `event`. As act, only the event's name counts: its filters (branches,
// paths, types) are not applied locally.
bool triggered_by(const Workflow& wf, std::string_view event);
// The inputs context of a workflow_dispatch run (act's rule): each input the trigger declares,
// given (in the event payload or by --input) or else its default ("" without one), booleans as
// true/false; other given inputs as they are.
Value dispatch_inputs(const Workflow& wf, const Value& given);

// act -g: one box per job, a row per stage, arrows between stages.
std::string stage_graph(const Workflow& workflow);

// Runs act. Returns the exit status (0 success, 1 a job failed); errors are usage and parse
// errors (invalid_argument, exit 2) or failures to start (exit 1).
Result<int> run_act(const ActOptions& options, std::ostream& out);

} // namespace akbuild::workflow
