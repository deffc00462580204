#pragma once
// One job's execution environment (forgejo-runner's backend plugin): a directory of its own
//   <dir>/root        root_path, where the runner lays out the workflow's files (default workdir)
//   <dir>/act         act_path, the runner's helper scripts and action code
//   <dir>/tool-cache  RUNNER_TOOL_CACHE
//   <dir>/tmp         RUNNER_TEMP; /tmp inside the sandbox
//   <dir>/home        HOME
//   <dir>/bin         `akbuild` (host profile; the sandbox has it at /run/akbuild/bin)
// and the profile's way of running commands in it. In the sandbox, <dir> is bound at its own
// path, so every path the runner is given means the same inside and out, and `akbuild step`
// sends the daemon a workspace path the daemon can read. Beside <dir>, out of the job's reach,
//   <dir>.sock        the daemon's Executor for this environment alone (its sandbox shows it at
//                     /run/akbuild/executor.sock); the daemon confines its calls to <dir>
//
// Usage:
//   auto env = AK_TRY(JobEnvironment::create(id, dir, profile, context));
//   auto r = env->exec({.argv = {"sh", "-c", "echo hi"}}, on_output, cancel);
//   env->retire(graveyard);  // out of reach at once
//   env->destroy();          // the slow rest, off the caller's path

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "runner/exec/job_cgroup.hh"
#include "runner/exec/process.hh"
#include "runner/plugin/profile.hh"

namespace akbuild::plugin {

// Serves the daemon's Executor on a unix socket at `socket`, confined to the environment
// directory `dir`, until the handle returned is dropped (which removes the socket).
using ExecutorEndpoint = std::function<Result<std::shared_ptr<void>>(const std::filesystem::path& socket,
                                                                     const std::filesystem::path& dir)>;

// What every environment of one daemon shares.
struct EnvironmentContext {
  std::filesystem::path akbuild_binary;  // put on each job's PATH
  ExecutorEndpoint serve_executor{};     // each environment's executor for `akbuild step`; empty: none
  std::string cgroup_prefix;             // the daemon's job cgroups are named <prefix><id>
};

struct ExecSpec {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;  // over image_env()
  std::string workdir;                     // absolute inside, or relative to root; empty: root
};

enum class OutputStream { out, err };
// Output as it comes, in the order read; called on the exec's thread.
using OutputCallback = std::function<void(OutputStream, std::string_view)>;

struct ExecResult {
  std::optional<int> exit_code;  // the command ran: its status (128 + signal when killed)
  std::string failure;           // else why it could not be run at all
};

class JobEnvironment {
public:
  // Makes the directories (mode 0700) and cgroups; failed_precondition when the profile's limits
  // cannot be set here or bubblewrap cannot run for the sandbox profile.
  static Result<std::unique_ptr<JobEnvironment>> create(std::string id, std::filesystem::path dir, Profile profile,
                                                        const EnvironmentContext& context);
  ~JobEnvironment();

  const std::string& id() const { return m_id; }
  const Profile& profile() const { return m_profile; }
  std::filesystem::path root() const { return m_dir / "root"; }
  std::filesystem::path act() const { return m_dir / "act"; }
  std::filesystem::path tool_cache() const { return m_dir / "tool-cache"; }
  std::filesystem::path temp() const { return m_dir / "tmp"; }
  std::filesystem::path home() const { return m_dir / "home"; }
  // Its executor socket (empty without one).
  const std::filesystem::path& executor_socket() const { return m_socket; }

  // The variables the environment gives every command (PATH, HOME, TMPDIR, AKBUILD_EXECUTOR).
  std::map<std::string, std::string> image_env() const;

  // Runs the command to its end, streaming its output; a cancel (or its deadline) kills the
  // process tree: SIGTERM, SIGKILL after a second. Fails only for errors of the daemon itself.
  Result<ExecResult> exec(const ExecSpec& spec, const OutputCallback& on_output, exec::CancelToken& cancel);

  // The path below this environment's directory that `inside` names, without its root:
  // invalid_argument when `inside` is not absolute or lies outside the environment's directory.
  Result<std::string> relative_path(std::string_view inside) const;
  const std::filesystem::path& dir() const { return m_dir; }

  // Cancels every running command (they end within the kill grace).
  void cancel_running();
  // Takes the environment out of reach at once: kills every process left, unlinks its executor
  // socket (no new client can connect) and renames its directory to `graveyard` (a name in the
  // same directory, so a daemon restarted before destroy() removes it with the other leftovers).
  // destroy() then shuts the executor down and deletes the files.
  Result<> retire(const std::filesystem::path& graveyard);
  // Kills every process left and removes the directory; the environment is unusable after.
  Result<> destroy();

  // Held by each RPC on this environment for its whole duration.
  std::mutex& call_mutex() { return m_call; }

private:
  JobEnvironment(std::string id, std::filesystem::path dir, Profile profile, const EnvironmentContext& context)
      : m_id(std::move(id)), m_dir(std::move(dir)), m_profile(std::move(profile)), m_context(context) {}
  // The program and workdir checked, the command line that runs it in this profile.
  Result<exec::ProcessSpec> command(const ExecSpec& spec, std::string* failure) const;

  std::string m_id;
  std::filesystem::path m_dir;
  Profile m_profile;
  EnvironmentContext m_context;
  std::optional<exec::JobCgroup> m_cgroup;
  std::filesystem::path m_socket;
  std::shared_ptr<void> m_endpoint;  // serves m_socket while held
  std::mutex m_call;
  std::mutex m_running_mutex;
  std::set<exec::CancelToken*> m_running;
};

} // namespace akbuild::plugin
