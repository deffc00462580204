#pragma once
// The job environments of one daemon, under <state dir>/plugin/envs/<id>. The state dir is the
// daemon's alone (a lock file says so); what a killed daemon left there (directories, cgroups
// and their processes) is reclaimed when the next one opens it. An environment past its
// `environment_timeout` is removed, killing what runs in it.
//
// Usage:
//   auto envs = AK_TRY(Environments::open({.state_dir = dir, .context = context}));
//   auto env = AK_TRY(envs->create({.profile = profile}));
//   { auto call = AK_TRY(envs->acquire(env->id()));  call->exec(...); }   // one call at a time
//   AK_TRY_VOID(envs->remove(env->id()));

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "runner/core/fs.hh"
#include "runner/plugin/environment.hh"

namespace akbuild::plugin {

struct EnvironmentsOptions {
  std::filesystem::path state_dir;
  EnvironmentContext context;       // cgroup_prefix is set by open()
};

// An environment held for one call: no other call on it runs meanwhile.
class EnvironmentCall {
public:
  EnvironmentCall(std::shared_ptr<JobEnvironment> env, std::unique_lock<std::mutex> lock)
      : m_env(std::move(env)), m_lock(std::move(lock)) {}
  JobEnvironment* operator->() const { return m_env.get(); }
  JobEnvironment& operator*() const { return *m_env; }

private:
  std::shared_ptr<JobEnvironment> m_env;
  std::unique_lock<std::mutex> m_lock;
};

struct CreateSpec {
  Profile profile;
  std::optional<std::chrono::milliseconds> timeout;  // environment_timeout
};

class Environments {
public:
  // Takes the state dir (failed_precondition when another daemon holds it) and reclaims leftovers.
  static Result<std::unique_ptr<Environments>> open(EnvironmentsOptions options);
  ~Environments();  // removes every environment

  Result<std::shared_ptr<JobEnvironment>> create(const CreateSpec& spec);
  // The environment, held for one call (waiting for the call before it); not_found for an id
  // never made or already removed.
  Result<EnvironmentCall> acquire(const std::string& id);
  // Cancels what runs in it, waits for the call in progress to end, kills what is left and
  // deletes its directory; not_found when there is no such environment.
  Result<> remove(const std::string& id);
  // The deadline of the environment (its timeout), if any.
  std::optional<std::chrono::steady_clock::time_point> deadline(const std::string& id);

private:
  explicit Environments(EnvironmentsOptions options) : m_options(std::move(options)) {}
  void reap();  // the timeout thread
  void bury();  // the thread that destroys retired environments

  EnvironmentsOptions m_options;
  FileLock m_lock;
  std::mutex m_mutex;
  std::condition_variable m_wake;
  bool m_stopping = false;
  std::map<std::string, std::shared_ptr<JobEnvironment>> m_envs;
  std::map<std::string, std::chrono::steady_clock::time_point> m_deadlines;
  std::thread m_reaper;
  // Retired environments whose executor and files are still to go (Remove answers before that).
  std::deque<std::shared_ptr<JobEnvironment>> m_retired;
  bool m_removed_all = false;  // set by the destructor once every environment is retired
  std::thread m_undertaker;
};

// The environments' parent dir in a state dir.
std::filesystem::path environments_dir(const std::filesystem::path& state_dir);

} // namespace akbuild::plugin
