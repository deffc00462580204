#pragma once
// One job of `akbuild act` (one matrix combination): evaluates step conditions, runs `run:`
// steps with the job's shell, hands consecutive akbuild steps to the engine as one batch, runs
// local composite actions, and collects step and job outputs. Internal to runner/workflow.

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "runner/engine/engine.hh"
#include "runner/workflow/act.hh"
#include "runner/workflow/act_output.hh"
#include "runner/workflow/expr/expression.hh"
#include "runner/workflow/outcome.hh"
#include "runner/workflow/workflow.hh"

namespace akbuild::workflow {

// What every job of one act run shares.
struct ActRun {
  const ActOptions& options;
  ActOutput& out;
  Value contexts;                                   // github, vars, secrets, inputs, runner
  std::map<std::string, std::string> host_env;      // the environment act was started with
  std::filesystem::path temp_root;                  // per-run scratch (RUNNER_TEMP lives below)
  std::atomic<bool> cancelled{false};

  ActRun(const ActOptions& o, ActOutput& output) : options(o), out(output) {}
  // The engine, opened on first use and shared by all jobs.
  Result<engine::Engine*> engine();
  // The checkout of a remote action or reusable workflow (`owner/repo[/path]@ref`, or with an
  // https://host/ in front), cloned into the cache dir from AKBUILD_DEFAULT_ACTIONS_URL (default
  // https://data.forgejo.org) or the host it names; unavailable when it cannot be fetched.
  Result<std::filesystem::path> fetch_remote(const std::string& uses) const;
  // The first usage error (invalid_argument) met by any job; it turns into exit status 2.
  void set_usage_error(Error e);
  std::optional<Error> usage_error();

private:
  std::mutex m_mutex;
  std::unique_ptr<engine::Engine> m_engine;
  std::optional<Error> m_usage_error;
};

struct JobOutcome {
  Outcome result = Outcome::success;
  Value outputs = Value::object();
  // Why the job stopped, when act ends the run with that error rather than "Job 'X' failed"
  // alone (a composite action without steps, the job's time running out); else empty.
  std::string error{};
};

// Runs `job` of `wf` with the workflow's contexts (`contexts`: the run's, with github.event_name
// and github.workflow set), the given matrix combination and `needs` context. `label` names the
// job in output ("build" or "build (linux, 1.21)").
JobOutcome run_job(ActRun& run, const Workflow& wf, const Job& job, const Value& contexts, const Value& matrix,
                   const Value& needs, const Value& strategy, const std::string& label);

} // namespace akbuild::workflow
