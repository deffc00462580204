#pragma once
// What one step's execution works with (RunEnv), and the RunContext a kind's run() gets on a
// miss: commands run in the step's sandbox with its declared tools and env, their output
// streamed as log events and written to the run's log files.

#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "runner/cas/action_record.hh"
#include "runner/core/fs.hh"
#include "runner/engine/engine.hh"
#include "runner/engine/planner.hh"
#include "runner/engine/present_outputs.hh"
#include "runner/engine/scheduler.hh"

namespace akbuild::cas {
class CacheDir;
}

namespace akbuild::engine {

class RemoteSteps;

// A whole input directory a step's sandbox binds, held open from its check (beneath the
// workspace, no symlink) until the step has run: the sandbox binds what was checked.
struct BoundInputDir {
  std::string rel;
  std::filesystem::path host;
  UniqueFd fd;
};

struct RunEnv {
  cas::CacheDir& cache;
  const EngineOptions& options;
  std::filesystem::path workspace;
  std::string platform;
  EventSink& events;
  const exec::CancelToken* cancel = nullptr;
  KeyLocks& locks;
  PresentOutputs* present = nullptr;  // outputs known to be in place (the daemon's engine)
  RemoteSteps* remote = nullptr;               // the remote cache, if any (remote_steps.hh)
};

// Reports a state change of step `id`.
void emit_state(RunEnv& env, const std::string& id, StepState state, std::string text = {},
                std::map<std::string, std::string> values = {});
// Reports one line of akbuild's own about step `id`, secrets masked.
void log_line(RunEnv& env, const std::string& id, std::string_view line);

class StepRunContext final : public steps::RunContext {
public:
  // The command's stdout and stderr go to `out_log` and `err_log` (created by the caller), not
  // memory: a step may print gigabytes.
  StepRunContext(RunEnv& env, const PreparedStep& step, const KeyedStep& keyed,
                 std::vector<const cas::ActionRecord*> dep_results, std::filesystem::path input_root,
                 std::filesystem::path output_root, bool network, UniqueFd out_log, UniqueFd err_log);

  const std::string& step_id() const override { return m_step.request.id; }
  const std::filesystem::path& input_root() const override { return m_input_root; }
  const std::filesystem::path& output_root() const override { return m_output_root; }
  const std::filesystem::path& workspace() const override { return m_env.workspace; }
  cas::CacheDir& cache() override { return m_env.cache; }
  const exec::CancelToken* cancel() const override { return m_env.cancel; }
  Result<std::filesystem::path> tool(std::string_view name) const override;
  void log(std::string_view line) override { log_line(m_env, m_step.request.id, line); }
  std::optional<std::string> content_digest(std::string_view rel) const override;
  std::optional<std::string> locked_ref(std::string_view ref) const override {
    auto it = m_step.locked.find(std::string(ref));
    return it == m_step.locked.end() ? std::nullopt : std::optional<std::string>(it->second);
  }
  Result<exec::ProcessResult> run(const std::vector<std::string>& argv,
                                  const std::map<std::string, std::string>& extra_env,
                                  const std::string& working_directory) override;
  bool confined() const override { return m_env.options.confined; }

  int input_dir(std::string_view rel) const override;
  std::optional<std::string> input_changed(std::string_view rel) const override;

  // Whole input directories left in the workspace (bound over their empty place in the input
  // root, or read in place), and the stat of every directory inside them when keyed.
  void bind_input_dirs(std::vector<BoundInputDir> dirs, std::vector<InputFile> dir_stats) {
    m_input_dirs = std::move(dirs);
    m_input_dir_stats = std::move(dir_stats);
  }
  // The first error writing the logs, if any.
  std::optional<Error> log_error();
  int exit_code() const { return m_exit_code; }

private:
  RunEnv& m_env;
  const PreparedStep& m_step;
  const KeyedStep& m_keyed;
  std::vector<const cas::ActionRecord*> m_dep_results;
  std::filesystem::path m_input_root, m_output_root;
  std::vector<BoundInputDir> m_input_dirs;
  std::vector<InputFile> m_input_dir_stats;
  bool m_network;
  std::chrono::steady_clock::time_point m_deadline;
  std::mutex m_mutex;
  UniqueFd m_out_log, m_err_log;
  std::optional<Error> m_log_error;
  int m_exit_code = 0;
  std::string m_failed_command;  // the last command a shell script reported failing
};

} // namespace akbuild::engine
