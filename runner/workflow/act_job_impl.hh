#pragma once
// The inside of one act job (act_job.hh's run_job), in three parts: the step loop with its
// conditions and composite actions (act_job.cc), `run:` steps with their shell, environment and
// env files (act_job_shell.cc), and batches of akbuild steps handed to the engine
// (act_job_batch.cc). Internal to runner/workflow.

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "runner/exec/process.hh"
#include "runner/workflow/act_job.hh"
#include "runner/workflow/stdout_commands.hh"

namespace akbuild::workflow {

struct StepOutcome {
  Outcome outcome = Outcome::success;
  Value outputs = Value::object();
};

// Steps of the job, or of a composite action inside it.
struct Scope {
  std::string prefix;               // "build" or "build/Use my action"
  Value steps = Value::object();    // the steps context
  std::optional<Value> inputs;      // the inputs context of a composite action
  Value env = Value::object();      // env of the steps that run a composite action, over the job's
  std::filesystem::path action_path;
  std::string action_repository, action_ref;  // of a remote composite action ("" for a local one)
  bool composite = false;
  bool failed = false;
};

// A process that runs as (a stage of) a step, with the runner's env files.
struct StepProcess {
  std::vector<std::string> argv;
  std::vector<int> keep_fds;
  std::map<std::string, std::string> env;    // over the step's environment
  std::filesystem::path cwd;
  std::string state_key;                     // where its GITHUB_STATE and ::save-state go
};

// A post stage to run when the job's steps are done (a JavaScript action's `runs.post`).
struct PostStage {
  const WorkflowStep* step;
  std::filesystem::path dir;
  const Action* action;
  Scope scope;
  std::string prefix;
  std::string state_key;
};

class ActJob {
public:
  ActJob(ActRun& run, const Workflow& wf, const Job& job, const Value& contexts, const Value& matrix,
         const Value& needs, const Value& strategy, std::string label)
      : m_run(run), m_wf(wf), m_job(job), m_contexts(contexts), m_matrix(matrix), m_needs(needs),
        m_strategy(strategy), m_label(std::move(label)) {}

  // Runs every step; the job's result and outputs.
  JobOutcome run();

private:
  class BatchSink;

  // act_job.cc: the step loop and conditions.
  JobOutcome fail_job(const std::string& message);
  void event(std::string_view type, Value fields, std::string_view prefix, std::string_view text);
  EvalContext contexts(const Scope& scope) const;
  std::string step_prefix(const Scope& scope, const WorkflowStep& step, const EvalContext& ctx) const;
  void record(Scope& scope, const WorkflowStep& step, const StepOutcome& result, const EvalContext& ctx,
              const std::string& prefix);
  void run_steps(const std::vector<WorkflowStep>& steps, Scope& scope);
  // Tells an event sink that a top-level step starts (ActOptions::on_event).
  void announce(const Scope& scope, const WorkflowStep& step, const std::string& prefix);
  // A remote action's folder, cloned into the cache (AKBUILD_DEFAULT_ACTIONS_URL names the
  // server of `owner/repo@ref`); unavailable when it cannot be fetched.
  Result<std::filesystem::path> remote_action_dir(const std::string& uses);
  std::map<std::string, Result<std::filesystem::path>> m_remote_dirs;  // by `uses:`, fetched once per job
  // Whether the step goes to the engine (akbuild/step, or a local copy of its action).
  bool is_akbuild(const WorkflowStep& step);
  // Whether --step leaves the step to run (every step of a composite action does).
  bool wanted(const Scope& scope, const WorkflowStep& step) const;
  // The action.yml in `dir`, read once per job.
  const Result<Action>& action_at(const std::filesystem::path& dir);
  bool names_akbuild_step(const std::filesystem::path& dir);
  // act_job_action.cc: local actions.
  StepOutcome run_local_action(const WorkflowStep& step, const std::filesystem::path& dir, const Scope& outer,
                               const EvalContext& ctx, const std::string& prefix);

  // act_job_shell.cc: `run:` steps.
  std::map<std::string, std::string> process_env(const Scope& scope, const WorkflowStep& step, const EvalContext& ctx,
                                                 const std::map<std::string, std::string>& files,
                                                 std::string* error) const;
  // A `::set-output`, `::set-env` or `::add-path` line of a step: into `outputs`, the job's env
  // or PATH.
  void apply_command(const StdoutCommand& c, Value& outputs, const std::string& prefix);
  StepOutcome run_script(const WorkflowStep& step, Scope& scope, const EvalContext& ctx, const std::string& prefix);
  StepOutcome run_step_process(const WorkflowStep& step, const Scope& scope, const EvalContext& ctx,
                               const std::string& prefix, const StepProcess& p);

  // act_job_action.cc: JavaScript actions, their post stages.
  StepOutcome run_node_action(const WorkflowStep& step, const std::filesystem::path& dir, const Action& action,
                              const Scope& scope, const EvalContext& ctx, const std::string& prefix);
  // The post stages registered so far, last first; a failed one fails the job.
  void run_post_stages();
  // The pre stages of the job's remote JavaScript actions, in step order, before any step (as act
  // runs them; local actions have none). A failed one fails the job.
  void run_pre_stages();
  // INPUT_* for a JavaScript action: its input defaults, then the step's `with:`; "" and
  // `error` set when a value cannot be interpolated.
  std::map<std::string, std::string> action_inputs(const WorkflowStep& step, const Action& action,
                                                   const EvalContext& ctx, std::string* error) const;

  // act_job_batch.cc: consecutive akbuild steps, planned or run by the engine together.
  void run_akbuild_batch(const std::vector<const WorkflowStep*>& batch, Scope& scope);

  ActRun& m_run;
  const Workflow& m_wf;
  const Job& m_job;
  Value m_contexts, m_matrix, m_needs, m_strategy;
  std::string m_label;
  Scope m_root{m_label, Value::object(), std::nullopt, Value::object(), {}, {}, {}, false, false};
  std::filesystem::path m_dir;
  Value m_env;
  std::vector<std::string> m_path;
  int m_counter = 0;
  std::map<std::filesystem::path, Result<Action>> m_actions;  // by directory (action_at)
  std::optional<std::set<std::size_t>> m_only;                // --step: the steps of this job that run
  std::map<std::string, std::map<std::string, std::string>> m_state;  // GITHUB_STATE by state key
  std::vector<PostStage> m_posts;
  std::map<std::string, std::map<std::string, std::string>> m_inputs_env;  // INPUT_* by state key
  // The first error that ends act's run, not only this job (JobOutcome::error).
  std::string m_error;
  // Requested when the job's timeout-minutes pass, for the step then running.
  exec::CancelToken m_cancel;
};

// The repository (owner/repo) and ref a remote action's `uses:` names, for github.action_repository
// and github.action_ref (GITHUB_ACTION_REPOSITORY, GITHUB_ACTION_REF); both empty for a local
// action, as on a runner.
std::pair<std::string, std::string> action_identity(const std::string& uses);

// A timeout-minutes value (a number, or an expression giving one) as a duration; nullopt when
// not set; invalid_argument for anything else, or outside (0, 525600].
Result<std::optional<std::chrono::milliseconds>> timeout_minutes(const Value& v, const EvalContext& ctx);

} // namespace akbuild::workflow
