#pragma once
// The model of a Forgejo/GitHub Actions workflow file (the subset akbuild runs locally):
// name, on, env, defaults.run, and jobs with runs-on, needs, if, strategy (matrix with
// include/exclude, fail-fast, max-parallel), env, outputs, defaults, timeout-minutes and steps
// (id, name, uses, run, with, env, if, shell, working-directory, continue-on-error,
// timeout-minutes). Values that may hold `${{ }}` stay as written and are interpolated when the
// job runs. Errors name "file:line:column: fault".

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runner/core/result.hh"
#include "runner/workflow/expr/expr_value.hh"

namespace akbuild::workflow {

struct Location {
  int line = 0, column = 0;  // 1-based; 0 = unknown
};

struct RunDefaults {
  std::string shell;
  std::string working_directory;
};

// One entry of a job's (or a composite action's) `steps:` as written in YAML, not a step kind.
struct WorkflowStep {
  std::size_t index = 0;                 // position in the job, from 0
  std::string id;                        // may be empty
  std::string name;                      // as written (may hold expressions)
  std::string uses, run, shell, working_directory;
  std::string condition;                 // `if:`; empty = success()
  Value with = Value::object();          // key → scalar (as written)
  Value env = Value::object();
  Value continue_on_error = false;       // bool, or an expression string
  Value timeout_minutes;                 // null, number or expression string
  Location location;

  // The name shown in logs: name, else "Run <first line of run>", else "Run <uses>".
  std::string display_name() const;
};

struct Strategy {
  Value matrix;                          // null, an object, or an expression string
  Value fail_fast = true;
  Value max_parallel;                    // null = unlimited
};

struct Job {
  std::string id;
  std::string name;                      // may be empty (then id)
  Value runs_on;
  std::vector<std::string> needs;
  std::string condition;
  Strategy strategy;
  Value env = Value::object();
  Value outputs = Value::object();       // name → expression template
  RunDefaults defaults;
  Value timeout_minutes;
  Value continue_on_error = false;
  std::vector<WorkflowStep> steps;
  // A job that calls a reusable workflow: `uses:` (./path.yml, or owner/repo/path.yml@ref), its
  // `with:` values as written (typed) and `secrets:` (a map, or the string "inherit").
  std::string uses;
  Value with = Value::object();
  Value secrets;
  Location location;
};

struct Workflow {
  std::filesystem::path file;
  std::string name;                      // `name:`, else the file path as written
  std::vector<std::string> events;       // from `on:` (string, list or map), in order
  Value on;
  Value env = Value::object();
  RunDefaults defaults;
  std::vector<Job> jobs;                 // in file order

  const Job* find_job(std::string_view id) const;
};

// Parses a workflow. `file` names it in errors and in Workflow::file. Fails with
// invalid_argument "file:line:column: ..." for malformed YAML, a malformed `${{ }}`, a missing
// `jobs`, a job with neither `runs-on` nor `uses`,
// a step with both or neither of `run`/`uses`, `uses:` without `@ref`, an unknown or
// self-referencing job in `needs`, or a `needs` cycle.
Result<Workflow> parse_workflow(std::string_view yaml, const std::filesystem::path& file);
Result<Workflow> load_workflow(const std::filesystem::path& file);

// Jobs grouped in stages: stage 0 has no needs, stage n needs only jobs of earlier stages.
// Only the jobs in `only` (and what they need, transitively) when it is non-empty.
std::vector<std::vector<std::string>> job_stages(const Workflow& wf, const std::vector<std::string>& only = {});

// A local action (action.yml), the parts akbuild reads: its name, input defaults and output
// templates (scalars as written: `3.10` stays "3.10"), runs.using, a composite action's steps,
// read with the workflow's step rules, and a JavaScript action's main, pre, post, pre-if and
// post-if.
struct Action {
  std::string name;
  std::vector<std::pair<std::string, std::string>> input_defaults;  // only inputs with a default
  std::vector<std::pair<std::string, std::string>> outputs;         // name → value template
  std::string runs_using;
  std::vector<WorkflowStep> steps;
  bool has_steps = false;                // whether `runs.steps` is there (a composite action needs it)
  std::string main, pre, post;           // a JavaScript action's scripts, relative to its folder
  std::string pre_if = "always()", post_if = "always()";
};

// Fails with invalid_argument "file:line:column: ..." for malformed YAML, a document that is
// not a map, a missing `runs.using`, or a bad step.
Result<Action> parse_action(std::string_view yaml, const std::filesystem::path& file);
// action.yml, else action.yaml, in `dir`; not_found naming `dir` when neither exists.
Result<Action> load_action(const std::filesystem::path& dir);

} // namespace akbuild::workflow
