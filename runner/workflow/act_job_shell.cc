// `run:` steps of an act job: the shell command line, the step's environment, and the env files
// (GITHUB_OUTPUT, GITHUB_ENV, GITHUB_PATH) read back after the step.
#include "runner/core/fs.hh"
#include "runner/core/secrets.hh"
#include "runner/exec/memory_file.hh"
#include "runner/exec/process.hh"
#include "runner/workflow/act_job_impl.hh"
#include "runner/workflow/env_files.hh"
#include "runner/workflow/stdout_commands.hh"

namespace akbuild::workflow {

namespace fs = std::filesystem;

namespace {

// The command line for a shell as GitHub documents `shell:` ({0} is the script file).
Result<std::vector<std::string>> shell_command(const std::string& shell, const fs::path& script) {
  std::string s = shell.empty() ? "bash" : shell;
  std::string f = script.string();
  if (s == "bash") return std::vector<std::string>{"bash", "--noprofile", "--norc", "-eo", "pipefail", f};
  if (s == "sh") return std::vector<std::string>{"sh", "-e", f};
  if (s == "python") return std::vector<std::string>{"python3", f};
  // node resolves a script path to its real path, which a memfd has not: it evaluates the text.
  if (s == "node" && script.string().starts_with("/dev/fd/"))
    return std::vector<std::string>{"node", "-e", "eval(require('fs').readFileSync(" + script.filename().string() + ", 'utf8'))"};
  if (s == "node") return std::vector<std::string>{"node", f};
  if (s.find("{0}") == std::string::npos)
    return fail(ErrorCode::invalid_argument, "shell '" + s + "' is not supported (bash, sh, python, node, or a command with {0})");
  std::vector<std::string> argv;
  std::size_t pos = 0;
  while (pos < s.size()) {
    std::size_t b = s.find_first_not_of(' ', pos);
    if (b == std::string::npos) break;
    std::size_t e = s.find(' ', b);
    std::string word = s.substr(b, e == std::string::npos ? std::string::npos : e - b);
    if (auto at = word.find("{0}"); at != std::string::npos) word.replace(at, 3, f);
    argv.push_back(word);
    pos = e == std::string::npos ? s.size() : e;
  }
  return argv;
}

} // namespace

void ActJob::apply_command(const StdoutCommand& c, Value& outputs, const std::string& prefix) {
  // act's lines for the commands it acts on; the deprecated ones still work as they did.
  if (c.name == "set-output") {
    outputs[c.props.count("name") ? c.props.at("name") : ""] = c.data;
    m_run.out.line(prefix, "\u2699  ::set-output:: " + (c.props.count("name") ? c.props.at("name") : "") + "=" + c.data);
  } else if (c.name == "set-env") {
    std::string name = c.props.count("name") ? c.props.at("name") : "";
    m_env[name] = c.data;
    m_run.out.line(prefix, "\u2699  ::set-env:: " + name + "=" + c.data);
  } else if (c.name == "add-path") {
    m_path.push_back(c.data);
    m_run.out.line(prefix, "\u2699  ::add-path:: " + c.data);
  }
}

std::map<std::string, std::string> ActJob::process_env(const Scope& scope, const WorkflowStep& step,
                                                       const EvalContext& ctx,
                                                       const std::map<std::string, std::string>& files,
                                                       std::string* error) const {
  std::map<std::string, std::string> env = m_run.host_env;
  const Value& gh = ctx.contexts["github"];
  auto str = [&](const char* key) { return gh.contains(key) ? to_display_string(gh[key]) : std::string(); };
  std::map<std::string, std::string> vars = {
      {"CI", "true"}, {"GITHUB_ACTIONS", "true"}, {"ACT", "true"},
      {"GITHUB_WORKSPACE", m_run.options.workspace.string()}, {"GITHUB_EVENT_NAME", str("event_name")},
      {"GITHUB_EVENT_PATH", (m_run.temp_root / "event.json").string()}, {"GITHUB_SHA", str("sha")},
      {"GITHUB_REF", str("ref")}, {"GITHUB_REF_NAME", str("ref_name")}, {"GITHUB_REPOSITORY", str("repository")},
      {"GITHUB_REPOSITORY_OWNER", str("repository_owner")}, {"GITHUB_ACTOR", str("actor")},
      {"GITHUB_RUN_ID", str("run_id")}, {"GITHUB_RUN_NUMBER", str("run_number")}, {"GITHUB_RUN_ATTEMPT", "1"},
      {"GITHUB_JOB", m_job.id}, {"GITHUB_ACTION", step.id.empty() ? std::to_string(step.index) : step.id},
      {"GITHUB_WORKFLOW", m_wf.name}, {"GITHUB_SERVER_URL", str("server_url")},
      {"RUNNER_OS", "Linux"}, {"RUNNER_ARCH", "X64"}, {"RUNNER_NAME", "akbuild"},
      {"RUNNER_TEMP", m_dir.string()}, {"RUNNER_TOOL_CACHE", (m_run.temp_root / "tool-cache").string()},
  };
  if (scope.composite) {
    vars["GITHUB_ACTION_PATH"] = scope.action_path.string();
    vars["GITHUB_ACTION_REPOSITORY"] = scope.action_repository;
    vars["GITHUB_ACTION_REF"] = scope.action_ref;
  }
  for (const auto& [k, v] : files) vars[k] = v;
  for (const auto& [k, v] : vars) {
    env[k] = v;
    if (k.starts_with("GITHUB_")) env["FORGEJO_" + k.substr(7)] = v;
  }
  for (const auto& [k, v] : m_env.items()) env[k] = v.get<std::string>();
  for (const auto& [k, v] : scope.env.items()) env[k] = v.get<std::string>();
  for (const auto& [k, v] : step.env.items()) {
    auto s = interpolate_string(v.get<std::string>(), ctx);
    if (!s) { *error = "env." + k + ": " + s.error().message; break; }
    env[k] = *s;
  }
  std::string path;
  for (auto it = m_path.rbegin(); it != m_path.rend(); ++it) path += *it + ":";
  env["PATH"] = path + (env.count("PATH") ? env["PATH"] : "/usr/local/bin:/usr/bin:/bin");
  return env;
}

StepOutcome ActJob::run_script(const WorkflowStep& step, Scope& scope, const EvalContext& ctx,
                               const std::string& prefix) {
  StepOutcome r;
  auto script = interpolate_string(step.run, ctx);
  if (m_run.out.dry_run()) {
    std::string text = script ? *script : step.run;
    std::string first = text.substr(0, text.find('\n'));
    event("step_plan", {{"step", prefix.substr(prefix.find('/') + 1)}, {"type", "run"}, {"script", first}}, prefix,
          "would run: " + first);
    return r;
  }
  r.outcome = Outcome::failure;
  if (!script) {
    m_run.out.line(prefix, script.error().message);
    return r;
  }
  std::string shell = step.shell;
  if (shell.empty() && !scope.composite) shell = !m_job.defaults.shell.empty() ? m_job.defaults.shell : m_wf.defaults.shell;
  // Written or defaulted, a shell may be an expression (`${{ env.MY_SHELL }}`).
  auto given_shell = interpolate_string(shell, ctx);
  if (!given_shell) {
    m_run.out.line(prefix, "shell: " + given_shell.error().message);
    return r;
  }
  shell = *given_shell;
  if (scope.composite && shell.empty()) {
    m_run.out.line(prefix, "a run step of a composite action needs 'shell'");
    return r;
  }
  // The script may hold secrets: it stays in memory (not on disk, not in argv), and the shell
  // reads it through its descriptor.
  auto file = exec::memory_file("step-" + std::to_string(m_counter), *script + "\n");
  if (!file) { m_run.out.line(prefix, file.error().message); return r; }
  auto argv = shell_command(shell, "/dev/fd/" + std::to_string(file->get()));
  if (!argv) { m_run.out.line(prefix, argv.error().message); return r; }
  StepProcess p;
  p.argv = std::move(*argv);
  p.keep_fds = {file->get()};
  std::string wd = interpolate_string(step.working_directory, ctx).value_or(step.working_directory);
  if (wd.empty() && !scope.composite)
    wd = !m_job.defaults.working_directory.empty() ? m_job.defaults.working_directory : m_wf.defaults.working_directory;
  p.cwd = wd.empty() ? m_run.options.workspace : m_run.options.workspace / wd;
  return run_step_process(step, scope, ctx, prefix, p);
}

StepOutcome ActJob::run_step_process(const WorkflowStep& step, const Scope& scope, const EvalContext& ctx,
                                     const std::string& prefix, const StepProcess& p) {
  StepOutcome r;
  r.outcome = Outcome::failure;
  std::string n = std::to_string(m_counter++);
  std::map<std::string, std::string> files = {
      {"GITHUB_OUTPUT", (m_dir / ("output-" + n)).string()}, {"GITHUB_ENV", (m_dir / ("env-" + n)).string()},
      {"GITHUB_PATH", (m_dir / ("path-" + n)).string()}, {"GITHUB_STATE", (m_dir / ("state-" + n)).string()},
      {"GITHUB_STEP_SUMMARY", (m_dir / ("summary-" + n)).string()}};
  for (const auto& [k, path] : files)
    if (auto w = write_file(path, ""); !w) { m_run.out.line(prefix, w.error().message); return r; }
  std::string env_error;
  exec::ProcessSpec spec;
  spec.argv = p.argv;
  spec.keep_fds = p.keep_fds;
  spec.env = process_env(scope, step, ctx, files, &env_error);
  if (!env_error.empty()) { m_run.out.line(prefix, env_error); return r; }
  for (const auto& [k, v] : p.env) spec.env[k] = v;
  spec.cwd = p.cwd;
  auto limit = timeout_minutes(step.timeout_minutes, ctx);
  if (!limit) { m_run.out.line(prefix, "timeout-minutes: " + limit.error().message); return r; }
  if (*limit && **limit == std::chrono::milliseconds(0)) {
    m_run.out.line(prefix, "failed: timed out after 0s");  // a limit already reached (act)
    return r;
  }
  if (*limit) spec.timeout = **limit;
  StdoutCommands commands;
  Value printed_outputs = Value::object();
  auto on_line = [&](const exec::LogLine& l) {
    // `::add-mask::VALUE` registers a secret for the rest of the run; the line is not shown.
    if (auto value = parse_add_mask(l.text)) {
      add_secret(std::move(*value));
      return;
    }
    m_run.out.line(prefix, l.text);
    if (l.stream != exec::LogLine::Stream::out) return;
    auto c = commands.feed(l.text);
    if (c && c->name == "save-state" && c->props.count("name")) m_state[p.state_key][c->props.at("name")] = c->data;
    else if (c) apply_command(*c, printed_outputs, prefix);
  };
  auto result = exec::run_process(spec, on_line, &m_cancel);
  if (!result) { m_run.out.line(prefix, result.error().message); return r; }
  if (!result->success()) {
    m_run.out.line(prefix, "failed: " + result->describe());
  } else {
    r.outcome = Outcome::success;
  }
  for (const auto& [k, v] : printed_outputs.items()) r.outputs[k] = v;
  // The files are honoured after failures too, as GitHub's runner does.
  if (auto t = read_file(files["GITHUB_OUTPUT"])) {
    if (auto kv = parse_env_file(*t, "GITHUB_OUTPUT")) for (auto& [k, v] : *kv) r.outputs[k] = v;
    else { m_run.out.line(prefix, kv.error().message); r.outcome = Outcome::failure; }
  }
  if (auto t = read_file(files["GITHUB_ENV"])) {
    if (auto kv = parse_env_file(*t, "GITHUB_ENV")) for (auto& [k, v] : *kv) m_env[k] = v;
    else { m_run.out.line(prefix, kv.error().message); r.outcome = Outcome::failure; }
  }
  if (auto t = read_file(files["GITHUB_STATE"])) {
    if (auto kv = parse_env_file(*t, "GITHUB_STATE")) for (auto& [k, v] : *kv) m_state[p.state_key][k] = v;
    else { m_run.out.line(prefix, kv.error().message); r.outcome = Outcome::failure; }
  }
  if (auto t = read_file(files["GITHUB_PATH"]))
    for (auto& path : parse_path_file(*t)) m_path.push_back(path);
  return r;
}

} // namespace akbuild::workflow
