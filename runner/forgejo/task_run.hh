#pragma once
// One task from the server, run through the act engine and reported (reporter.hh). The payload
// is a single-job workflow; its `needs` become the needs context (the jobs they name ran
// elsewhere), the task's context the github context, its secrets and vars the secrets and vars
// contexts. A job using actions/checkout gets the task's repository at its sha fetched into the
// workspace first (the token from the secrets sent as an HTTP header, never in argv); remote
// actions are cloned from the instance's default actions URL.

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "runner/engine/engine.hh"
#include "runner/exec/process.hh"
#include "runner/forgejo/reporter.hh"

namespace akbuild::forgejo {

struct TaskRunOptions {
  std::filesystem::path work_parent;              // where each task's workspace is made
  std::filesystem::path cache_dir;
  std::map<std::string, std::string> envs;        // runner.envs: the jobs' environment
  std::chrono::seconds timeout{3 * 3600};         // runner.timeout: a job is cancelled after it
  ReporterOptions report;
  std::function<Result<std::unique_ptr<engine::Engine>>(engine::EngineOptions)> open_engine;
};

// Runs `task` and reports it until its final state is acknowledged. `stop` cancels it from
// outside (the daemon's shutdown past its grace). The result reported.
runner::v1::Result run_task(const RunnerClient& client, const runner::v1::Task& task, const TaskRunOptions& options,
                            const exec::CancelToken& stop);

// The job of a single-job payload without its `needs` (re-emitted YAML), its id and its number
// of steps; invalid_argument unless the payload holds exactly one job.
struct PayloadJob {
  std::string yaml;
  std::string job_id;
  std::size_t steps = 0;
  bool uses_checkout = false;
};
Result<PayloadJob> payload_job(std::string_view payload);

} // namespace akbuild::forgejo
