#include "runner/plugin/environments.hh"

#include <sys/random.h>
#include <sys/stat.h>

#include <functional>

#include <fmt/core.h>

#include "runner/core/log.hh"
#include "runner/exec/job_cgroup.hh"

namespace akbuild::plugin {

namespace fs = std::filesystem;

namespace {

// 96 random bits: ids name directories and are not to be guessed by another job.
Result<std::string> new_id() {
  unsigned char bytes[12];
  if (::getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) return fail(errno_error("getrandom"));
  std::string id = "env-";
  for (unsigned char b : bytes) id += fmt::format("{:02x}", b);
  return id;
}

Error no_such(const std::string& id) {
  return Error{ErrorCode::not_found, fmt::format("job environment {}: no such environment (removed, or never created)",
                                                 id.empty() ? "\"\"" : id)};
}

} // namespace

fs::path environments_dir(const fs::path& state_dir) { return state_dir / "plugin" / "envs"; }

Result<std::unique_ptr<Environments>> Environments::open(EnvironmentsOptions options) {
  std::error_code ec;
  fs::path state = fs::weakly_canonical(options.state_dir, ec);
  if (ec) return fail(ErrorCode::invalid_argument, fmt::format("state dir {}: {}", options.state_dir.string(), ec.message()));
  AK_TRY_VOID(make_dirs(state / "plugin"));
  std::unique_ptr<Environments> envs(new Environments(std::move(options)));
  envs->m_options.state_dir = state;
  envs->m_lock = AK_TRY(FileLock::try_acquire(state / "plugin" / "lock"));
  if (!envs->m_lock.held())
    return fail(ErrorCode::failed_precondition,
                fmt::format("state dir {}: another akbuild serve holds it", state.string()));
  // Job cgroups carry the state dir's hash, so two daemons with their own state dirs keep theirs.
  envs->m_options.context.cgroup_prefix =
      fmt::format("akbuild-env-{:08x}-", std::hash<std::string>{}(state.string()) & 0xffffffffu);
  exec::remove_stale_job_cgroups(envs->m_options.context.cgroup_prefix);
  fs::path dir = environments_dir(state);
  if (fs::exists(dir, ec)) {
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      log_warning("plugin: removing job environment {} left by an earlier daemon", e.path().filename().string());
      if (auto r = remove_tree(e.path()); !r) log_warning("plugin: {}", r.error().message);
    }
  }
  AK_TRY_VOID(make_dirs(dir));
  ::chmod(dir.c_str(), 0700);
  envs->m_reaper = std::thread([e = envs.get()] { e->reap(); });
  envs->m_undertaker = std::thread([e = envs.get()] { e->bury(); });
  return envs;
}

Environments::~Environments() {
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
  }
  m_wake.notify_all();
  if (m_reaper.joinable()) m_reaper.join();
  std::vector<std::string> ids;
  {
    std::lock_guard lock(m_mutex);
    for (const auto& [id, env] : m_envs) ids.push_back(id);
  }
  for (const auto& id : ids) (void)remove(id);
  {
    std::lock_guard lock(m_mutex);
    m_removed_all = true;
  }
  m_wake.notify_all();
  if (m_undertaker.joinable()) m_undertaker.join();
}

Result<std::shared_ptr<JobEnvironment>> Environments::create(const CreateSpec& spec) {
  std::string id = AK_TRY(new_id());
  std::shared_ptr<JobEnvironment> env =
      AK_TRY(JobEnvironment::create(id, environments_dir(m_options.state_dir) / id, spec.profile, m_options.context)
                 .map_error([&](Error e) {
                   (void)remove_tree(environments_dir(m_options.state_dir) / id);
                   return e;
                 }));
  {
    std::lock_guard lock(m_mutex);
    m_envs.emplace(id, env);
    if (spec.timeout) m_deadlines.emplace(id, std::chrono::steady_clock::now() + *spec.timeout);
  }
  m_wake.notify_all();
  return env;
}

Result<EnvironmentCall> Environments::acquire(const std::string& id) {
  std::shared_ptr<JobEnvironment> env;
  {
    std::lock_guard lock(m_mutex);
    auto it = m_envs.find(id);
    if (it == m_envs.end()) return fail(no_such(id));
    env = it->second;
  }
  std::unique_lock call(env->call_mutex());
  // Removed while this call waited for the one before it.
  std::lock_guard lock(m_mutex);
  if (!m_envs.count(id)) return fail(no_such(id));
  return EnvironmentCall(std::move(env), std::move(call));
}

Result<> Environments::remove(const std::string& id) {
  std::shared_ptr<JobEnvironment> env;
  {
    std::lock_guard lock(m_mutex);
    auto it = m_envs.find(id);
    if (it == m_envs.end()) return fail(no_such(id));
    env = std::move(it->second);
    m_envs.erase(it);
    m_deadlines.erase(id);
  }
  // A cancelled call may still be winding down: stop what it runs, then wait for it.
  env->cancel_running();
  std::lock_guard call(env->call_mutex());
  // Out of reach now; its executor's shutdown and its files (a whole checkout, perhaps) go on the
  // undertaker's thread, off the runner's path.
  auto graveyard = env->dir().parent_path() / (".removed-" + id);
  if (auto retired = env->retire(graveyard); !retired) {
    log_warning("plugin: {}; removing it in place", retired.error().message);
    return env->destroy();
  }
  {
    std::lock_guard lock(m_mutex);
    m_retired.push_back(std::move(env));
  }
  m_wake.notify_all();
  return ok();
}

void Environments::bury() {
  std::unique_lock lock(m_mutex);
  while (true) {
    m_wake.wait(lock, [&] { return !m_retired.empty() || m_removed_all; });
    if (m_retired.empty()) return;
    auto env = std::move(m_retired.front());
    m_retired.pop_front();
    lock.unlock();
    if (auto r = env->destroy(); !r) log_warning("plugin: {}", r.error().message);
    env.reset();
    lock.lock();
  }
}

std::optional<std::chrono::steady_clock::time_point> Environments::deadline(const std::string& id) {
  std::lock_guard lock(m_mutex);
  auto it = m_deadlines.find(id);
  if (it == m_deadlines.end()) return std::nullopt;
  return it->second;
}

void Environments::reap() {
  std::unique_lock lock(m_mutex);
  while (!m_stopping) {
    auto now = std::chrono::steady_clock::now();
    std::optional<std::string> expired;
    auto next = std::chrono::steady_clock::time_point::max();
    for (const auto& [id, at] : m_deadlines) {
      if (at <= now) expired = id;
      else next = std::min(next, at);
    }
    if (expired) {
      lock.unlock();
      log_warning("plugin: job environment {} reached its environment_timeout; removing it", *expired);
      if (auto r = remove(*expired); !r) log_warning("plugin: {}", r.error().message);
      lock.lock();
      continue;
    }
    if (next == std::chrono::steady_clock::time_point::max()) m_wake.wait(lock);
    else m_wake.wait_until(lock, next);
  }
}

} // namespace akbuild::plugin
