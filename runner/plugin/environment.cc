#include "runner/plugin/environment.hh"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include <fmt/core.h>

#include "runner/core/program_path.hh"
#include "runner/exec/sandbox.hh"

namespace akbuild::plugin {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// Where the sandbox shows akbuild and the daemon's socket.
const fs::path k_sandbox_bin = "/run/akbuild/bin";
const fs::path k_sandbox_socket = "/run/akbuild/executor.sock";
constexpr std::string_view k_system_path = "/usr/local/bin:/usr/bin:/bin";

bool is_dir(const fs::path& p) {
  struct stat st{};
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

exec::JobSandboxSpec sandbox_spec(const fs::path& dir, const fs::path& temp, const fs::path& socket,
                                  const EnvironmentContext& context, bool network) {
  exec::JobSandboxSpec spec;
  spec.network = network;
  // /tmp first: a state dir below /tmp stays visible over it.
  spec.binds.push_back({temp, "/tmp", true});
  spec.binds.push_back({dir, dir, true});
  spec.binds.push_back({context.akbuild_binary, k_sandbox_bin / "akbuild", false});
  if (!socket.empty()) spec.binds.push_back({socket, k_sandbox_socket, false});
  return spec;
}

} // namespace

Result<std::unique_ptr<JobEnvironment>> JobEnvironment::create(std::string id, fs::path dir, Profile profile,
                                                               const EnvironmentContext& context) {
  std::unique_ptr<JobEnvironment> env(new JobEnvironment(std::move(id), std::move(dir), std::move(profile), context));
  if (::mkdir(env->m_dir.c_str(), 0700) != 0) return fail(errno_error("job environment " + env->m_dir.string()));
  for (const auto& sub : {env->root(), env->act(), env->tool_cache(), env->temp(), env->home(), env->m_dir / "bin"})
    if (::mkdir(sub.c_str(), 0755) != 0) return fail(errno_error("job environment " + sub.string()));
  if (::symlink(context.akbuild_binary.c_str(), (env->m_dir / "bin" / "akbuild").c_str()) != 0)
    return fail(errno_error("job environment: akbuild link"));
  if (context.serve_executor) {
    // Not in <dir>: the job could put a symlink to the daemon's own socket there, which bwrap
    // would follow when it binds the socket in.
    env->m_socket = env->m_dir.string() + ".sock";
    env->m_endpoint = AK_TRY(context.serve_executor(env->m_socket, env->m_dir));
  }
  const Profile& p = env->m_profile;
  // The default pids limit is best effort (as for steps); a limit asked for must hold.
  bool limited = p.cpus || p.memory_bytes || p.max_pids != Profile{}.max_pids;
  // Without limits the sandbox needs no cgroup: its pid namespace ends with it. A v1 cgroup
  // costs milliseconds to make, join and remove (RCU grace periods); the host profile pays
  // them to kill what left the command's process group.
  if (limited || p.kind == Profile::Kind::host) {
    auto cgroup = exec::JobCgroup::create(context.cgroup_prefix + env->m_id,
                                          {.max_pids = p.max_pids, .memory_bytes = p.memory_bytes, .cpus = p.cpus});
    if (cgroup) env->m_cgroup.emplace(std::move(*cgroup));
    else if (limited) return fail(cgroup.error());
  }
  if (p.kind == Profile::Kind::sandbox) {
    std::string why;
    if (!exec::sandbox_available(&why))
      return fail(ErrorCode::failed_precondition,
                  fmt::format("profile sandbox: bubblewrap cannot run here ({}); the host profile runs without it", why));
  }
  return env;
}

JobEnvironment::~JobEnvironment() { cancel_running(); }

std::map<std::string, std::string> JobEnvironment::image_env() const {
  bool sandbox = m_profile.kind == Profile::Kind::sandbox;
  std::map<std::string, std::string> env;
  env["PATH"] = fmt::format("{}:{}", (sandbox ? k_sandbox_bin : m_dir / "bin").string(), k_system_path);
  env["HOME"] = home().string();
  env["TMPDIR"] = sandbox ? "/tmp" : temp().string();
  if (!m_socket.empty()) env["AKBUILD_EXECUTOR"] = "unix:" + (sandbox ? k_sandbox_socket : m_socket).string();
  return env;
}

Result<std::string> JobEnvironment::relative_path(std::string_view inside) const {
  fs::path p = fs::path(inside).lexically_normal();
  if (!p.is_absolute()) return fail(ErrorCode::invalid_argument, fmt::format("{}: not an absolute path", inside));
  fs::path rel = p.lexically_relative(m_dir);
  if (rel.empty() || *rel.begin() == "..")
    return fail(ErrorCode::invalid_argument,
                fmt::format("{}: outside the job environment ({})", inside, m_dir.string()));
  return rel == "." ? std::string() : strip_trailing_slashes(rel.string());
}

Result<exec::ProcessSpec> JobEnvironment::command(const ExecSpec& spec, std::string* failure) const {
  bool sandbox = m_profile.kind == Profile::Kind::sandbox;
  exec::ProcessSpec p;
  p.env = image_env();
  for (const auto& [k, v] : spec.env) p.env[k] = v;
  fs::path workdir = spec.workdir.empty() ? root() : (root() / spec.workdir).lexically_normal();
  auto jail = sandbox_spec(m_dir, temp(), m_socket, m_context, m_profile.network);
  auto host_view = [&](const fs::path& inside) -> std::optional<fs::path> {
    if (!sandbox) return inside;
    // The sandbox's bin dir holds akbuild alone, as <dir>/bin does (a link to it) on the host.
    if (inside.lexically_normal() == k_sandbox_bin) return m_dir / "bin";
    return exec::job_sandbox_host_path(jail, inside);
  };
  auto workdir_host = host_view(workdir);
  if (!workdir_host || !is_dir(*workdir_host)) {
    *failure = fmt::format("workdir {}: no such directory in the job environment", workdir.string());
    return p;
  }
  const std::string& program = spec.argv[0];
  std::string search = p.env.count("PATH") ? p.env["PATH"] : std::string(k_system_path);
  Result<fs::path> found = fail(ErrorCode::not_found, "");
  if (program.find('/') != std::string::npos) {
    fs::path inside = fs::path(program).is_absolute() ? fs::path(program) : workdir / program;
    if (auto host = host_view(inside)) found = find_program(host->string(), "");
  } else {
    std::string host_search;
    for (std::string_view dir : search_dirs(search))
      if (auto host = host_view(fs::path(dir))) host_search += (host_search.empty() ? "" : ":") + host->string();
    found = find_program(program, host_search);
  }
  if (!found) {
    *failure = program.find('/') != std::string::npos
                   ? fmt::format("{}: no such executable in the job environment", program)
                   : fmt::format("{}: not found on PATH ({}) in the job environment", program, search);
    return p;
  }
  if (sandbox) {
    jail.chdir = workdir;
    p.argv = AK_TRY(exec::job_sandbox_argv(jail, spec.argv));
  } else {
    p.argv = spec.argv;
    p.cwd = workdir;
  }
  return p;
}

Result<ExecResult> JobEnvironment::exec(const ExecSpec& spec, const OutputCallback& on_output,
                                        exec::CancelToken& cancel) {
  if (spec.argv.empty() || spec.argv[0].empty()) return ExecResult{std::nullopt, "command: empty"};
  std::string failure;
  auto p = AK_TRY(command(spec, &failure));
  if (!failure.empty()) return ExecResult{std::nullopt, failure};
  p.chunks = true;
  p.kill_grace = 1s;
  if (m_cgroup) p.cgroup_procs_fds = m_cgroup->procs_fds();
  else p.max_processes = m_profile.max_pids;
  {
    std::lock_guard lock(m_running_mutex);
    m_running.insert(&cancel);
  }
  auto r = exec::run_process(p, [&](const exec::LogLine& line) {
    on_output(line.stream == exec::LogLine::Stream::err ? OutputStream::err : OutputStream::out, line.text);
  }, &cancel);
  {
    std::lock_guard lock(m_running_mutex);
    m_running.erase(&cancel);
  }
  if (!r) return ExecResult{std::nullopt, r.error().message};
  return ExecResult{r->signal ? 128 + r->signal : r->exit_code, {}};
}

void JobEnvironment::cancel_running() {
  std::lock_guard lock(m_running_mutex);
  for (auto* token : m_running) token->request();
}

Result<> JobEnvironment::retire(const fs::path& graveyard) {
  cancel_running();
  if (m_cgroup) {
    m_cgroup->kill_all();
    m_cgroup.reset();
  }
  std::error_code ec;
  if (!m_socket.empty()) fs::remove(m_socket, ec);
  if (::rename(m_dir.c_str(), graveyard.c_str()) != 0) return fail(errno_error("job environment " + m_dir.string()));
  m_dir = graveyard;
  return ok();
}

Result<> JobEnvironment::destroy() {
  cancel_running();
  if (m_cgroup) {
    m_cgroup->kill_all();
    m_cgroup.reset();
  }
  m_endpoint.reset();
  return remove_tree(m_dir);
}

} // namespace akbuild::plugin
