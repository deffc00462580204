#include "runner/engine/step_run_context.hh"

#include <atomic>
#include <set>

#include "runner/core/encoding.hh"
#include "runner/core/hash.hh"
#include "runner/core/secrets.hh"
#include "runner/exec/sandbox.hh"

namespace akbuild::engine {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

void emit_state(RunEnv& env, const std::string& id, StepState state, std::string text,
                std::map<std::string, std::string> values) {
  env.events.on_event(Event{StateChange{id, state, std::move(text), std::move(values)}});
}

namespace {

// The marker of the line that names the command a shell script failed at.
constexpr std::string_view k_failed_command = "\x1f" "akbuild-failed-command: ";

// `bash [flags] -c SCRIPT` fails as "command 'bash' failed", which names nothing: a trap in
// front of the script reports the command that failed (its text as written) on stderr, marked,
// and run() takes it out of the log. Only the process's argv changes, not the step's key.
void name_failed_shell_command(std::vector<std::string>& argv) {
  if (argv.empty() || fs::path(argv[0]).filename() != "bash") return;
  for (std::size_t i = 1; i + 1 < argv.size(); ++i) {
    if (argv[i] != "-c") continue;
    argv[i + 1] = "trap 'printf \"%s%s\\n\" \"" + std::string(k_failed_command) +
                  "\" \"$BASH_COMMAND\" >&2' ERR; " + argv[i + 1];
    return;
  }
}

} // namespace

void log_line(RunEnv& env, const std::string& id, std::string_view line) {
  env.events.on_event(Event{LogLine{id, LogStream::akbuild, mask_secrets(std::string(line))}});
}

StepRunContext::StepRunContext(RunEnv& env, const PreparedStep& step, const KeyedStep& keyed,
                               std::vector<const cas::ActionRecord*> dep_results, fs::path input_root,
                               fs::path output_root, bool network, UniqueFd out_log, UniqueFd err_log)
    : m_env(env), m_step(step), m_keyed(keyed), m_dep_results(std::move(dep_results)),
      m_input_root(std::move(input_root)), m_output_root(std::move(output_root)), m_network(network),
      m_deadline(Clock::now() + (step.request.timeout.count() > 0 ? step.request.timeout
                                                                  : std::chrono::milliseconds(k_default_step_timeout))),
      m_out_log(std::move(out_log)), m_err_log(std::move(err_log)) {}

Result<fs::path> StepRunContext::tool(std::string_view name) const {
  auto it = m_keyed.tools.find(std::string(name));
  if (it == m_keyed.tools.end())
    return fail(ErrorCode::internal, "step '" + m_step.request.id + "': tool '" + std::string(name) +
                                         "' was not declared in its plan");
  return it->second.path;
}

namespace {

// Whether `path` is `dir` or below it ("" holds everything).
bool under(std::string_view path, std::string_view dir) { return dir.empty() || path_within(path, dir); }

} // namespace

int StepRunContext::input_dir(std::string_view rel) const {
  std::string dir = strip_trailing_slashes(std::string(rel));
  for (const auto& d : m_input_dirs)
    if (d.rel == dir) return d.fd.get();
  return -1;
}

std::optional<std::string> StepRunContext::input_changed(std::string_view rel_in) const {
  std::string rel = strip_trailing_slashes(std::string(rel_in));
  for (const auto& f : m_keyed.inputs)
    if (under(f.path, rel))
      if (auto change = input_change(m_env.workspace, f)) return change;
  for (const auto& d : m_input_dir_stats)
    if (under(d.path, rel))
      if (auto change = dir_entries_change(m_env.workspace, d)) return change;
  return std::nullopt;
}

std::optional<std::string> StepRunContext::content_digest(std::string_view rel_in) const {
  std::string rel = strip_trailing_slashes(std::string(rel_in));
  // A dep output staged at exactly `rel` is its tree; one overlapping `rel` otherwise mixes.
  std::optional<std::string> dep_tree;
  for (const auto* result : m_dep_results)
    for (const auto& [out, output] : result->outputs) {
      std::string o = strip_trailing_slashes(out);
      if (o == rel) dep_tree = "tree:" + output.digest.hex();
      else if (under(o, rel) || under(rel, o)) return std::nullopt;
    }
  if (dep_tree) {
    for (const auto& f : m_keyed.inputs)
      if (under(f.path, rel)) return std::nullopt;
    return dep_tree;
  }
  // Each input's path below `rel` (an empty directory's too), type, permission bits (a layer's tar records them) and
  // content or target, in one buffer hashed once. The digests are from keying time: what the
  // caller read stands for them only if input_changed() finds no change after the read.
  std::string lines;
  for (const auto& f : m_keyed.inputs) {
    if (!under(f.path, rel)) continue;
    lines.append(std::string_view(f.path).substr(rel.empty() ? 0 : std::min(f.path.size(), rel.size() + 1)));
    lines.append(1, '\0').append(f.type == FileType::directory ? "d"
                                  : f.type == FileType::symlink ? "l"
                                  : f.executable                ? "x"
                                                                : "f");
    lines.append(1, '\0').append(std::to_string(f.permissions));
    lines.append(1, '\0').append(f.type == FileType::symlink ? f.target : f.digest).append(1, '\n');
  }
  if (lines.empty()) return std::nullopt;
  return "inputs:" + to_hex(sha256(lines));
}

Result<exec::ProcessResult> StepRunContext::run(const std::vector<std::string>& argv,
                                                 const std::map<std::string, std::string>& extra_env,
                                                 const std::string& working_directory) {
  if (argv.empty()) return fail(ErrorCode::internal, "step '" + m_step.request.id + "': empty command");
  exec::SandboxSpec sandbox;
  sandbox.input_root = m_input_root;
  for (const auto& d : m_input_dirs) sandbox.input_dirs.push_back({d.rel, d.host, d.fd.get()});
  sandbox.output_root = m_output_root;
  sandbox.outputs = m_step.plan.outputs;
  sandbox.network = m_network;
  sandbox.mode = m_env.options.sandbox;
  sandbox.working_directory = working_directory;
  std::set<fs::path> binds;
  for (const auto& [name, t] : m_keyed.tools) {
    binds.insert(t.path.parent_path());
    binds.insert(t.real_path.parent_path());
    // An npm package's dependencies are its siblings: the whole node_modules tree it is in.
    if (!t.node_modules.empty()) binds.insert(t.node_modules);
  }
  for (const auto& root : m_keyed.toolchain_roots) binds.insert(root);
  sandbox.ro_binds.assign(binds.begin(), binds.end());
  exec::ProcessSpec spec;
  spec.argv = argv;
  name_failed_shell_command(spec.argv);
  // The declared tool is the one keyed: run it by its resolved path.
  if (auto it = m_keyed.tools.find(argv[0]); it != m_keyed.tools.end()) spec.argv[0] = it->second.path.string();
  spec.env = m_step.plan.env;
  for (const auto& [k, v] : extra_env) spec.env[k] = v;
  spec.env.try_emplace("PATH", sandbox_path(m_keyed));
  // The kind's limit for each command, within what is left of the step's.
  auto left = std::max(std::chrono::duration_cast<std::chrono::milliseconds>(m_deadline - Clock::now()),
                       std::chrono::milliseconds(1));
  std::chrono::milliseconds own = std::chrono::seconds(m_step.plan.timeout_seconds);
  spec.timeout = own.count() > 0 ? std::min(own, left) : left;
  auto on_line = [this](const exec::LogLine& l) {
    // A command may register a value to mask, as on GitHub's runner; the command line itself
    // holds the value and is not logged.
    if (auto value = parse_add_mask(l.text)) {
      add_secret(std::move(*value));
      return;
    }
    if (l.text.starts_with(k_failed_command)) {
      std::lock_guard lock(m_mutex);
      m_failed_command = l.text.substr(k_failed_command.size());
      return;
    }
    auto text = mask_secrets(l.text);
    {
      std::lock_guard lock(m_mutex);
      int fd = (l.stream == exec::LogLine::Stream::out ? m_out_log : m_err_log).get();
      if (!m_log_error) {
        if (auto w = write_all(fd, as_bytes(text + "\n")); !w) m_log_error = w.error();
      }
    }
    m_env.events.on_event(Event{LogLine{m_step.request.id,
                                        l.stream == exec::LogLine::Stream::out ? LogStream::out : LogStream::err,
                                        std::move(text)},
                                l.time});
  };
  auto r = exec::run_sandboxed(sandbox, std::move(spec), on_line, m_env.cancel);
  if (!r) return fail(r.error().context("step '" + m_step.request.id + "'"));
  if (!r->sandboxed && !r->fallback_reason.empty() && m_env.options.sandbox == exec::SandboxMode::automatic) {
    static std::atomic<bool> warned{false};
    if (!warned.exchange(true)) log("warning: running without a sandbox: " + r->fallback_reason);
  }
  m_exit_code = r->process.exit_code;
  if (!r->process.success()) {
    std::string command;
    {
      std::lock_guard lock(m_mutex);
      command = m_failed_command.empty() ? argv[0] : mask_secrets(m_failed_command);
    }
    return fail(r->process.cancelled ? ErrorCode::cancelled : ErrorCode::step_failed,
                "command '" + command + "' failed: " + r->process.describe());
  }
  return r->process;
}

std::optional<Error> StepRunContext::log_error() {
  std::lock_guard l(m_mutex);
  return m_log_error;
}

} // namespace akbuild::engine
