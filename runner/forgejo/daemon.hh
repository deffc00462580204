#pragma once
// `akbuild runner daemon`: Declare, then one FetchTask loop per capacity slot as forgejo-runner's
// poller (internal/app/poll): a short poll every fetch_interval carrying the last tasks_version
// (0 after a task, which makes the server look again), an x-runner-request-key kept until a
// call succeeds (a newer server answers a repeat with the same task); each task run and
// reported (task_run.hh). The first SIGTERM or SIGINT stops fetching and lets running tasks
// finish within shutdown_timeout, then cancels them (they are reported cancelled); a second
// one cancels them at once.

#include <string>

#include "runner/forgejo/config.hh"
#include "runner/forgejo/registration.hh"
#include "runner/forgejo/task_run.hh"

namespace akbuild::forgejo {

struct DaemonOptions {
  RunnerConfig config;
  std::filesystem::path registration_file;
  std::string version;          // sent with Declare
  TaskRunOptions task;          // work_parent, cache_dir, envs, open_engine
};

// Runs until a signal ends it; 0 after a clean shutdown. unauthenticated when the server does not
// know the runner (the .runner file is stale), other errors when Declare fails.
Result<int> run_daemon(const DaemonOptions& options);

} // namespace akbuild::forgejo
