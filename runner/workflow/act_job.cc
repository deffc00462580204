#include "runner/workflow/act_job.hh"

#include <cstdlib>
#include <optional>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "runner/core/fs.hh"
#include "runner/core/log.hh"
#include "runner/core/secrets.hh"
#include "runner/exec/memory_file.hh"
#include "runner/exec/process.hh"
#include "runner/workflow/env_files.hh"
#include "runner/workflow/step_selection.hh"
#include "steps/action_yml.hh"
#include "steps/registry.hh"

namespace akbuild::workflow {

namespace fs = std::filesystem;

Result<engine::Engine*> ActRun::engine() {
  std::lock_guard lock(m_mutex);
  if (!m_engine) {
    engine::EngineOptions eo;
    eo.workspace = options.workspace;
    eo.cache_dir = options.cache_dir;
    eo.jobs = options.engine_jobs;
    eo.explain = options.explain;
    m_engine = AK_TRY(options.open_engine ? options.open_engine(std::move(eo)) : engine::Engine::open(std::move(eo)));
  }
  return m_engine.get();
}

void ActRun::set_usage_error(Error e) {
  std::lock_guard lock(m_mutex);
  if (!m_usage_error) m_usage_error = std::move(e);
  cancelled = true;
}

std::optional<Error> ActRun::usage_error() {
  std::lock_guard lock(m_mutex);
  return m_usage_error;
}

namespace {

enum class StepType { run, akbuild, checkout, local_action, unsupported };

// `uses: akbuild/step@ref`, also with a path or an absolute https://host/ prefix.
bool is_akbuild_uses(const std::string& uses) {
  static const std::regex re(R"(^(https?://[^/]+/)?akbuild/step(/[^@]*)?@.+$)");
  return std::regex_match(uses, re);
}

// The akbuild/step action's `mask` input: one value per line, each masked from here on.
void mask_lines(std::string_view text) {
  while (!text.empty()) {
    auto nl = text.find('\n');
    if (auto line = text.substr(0, nl); !line.empty()) add_secret(std::string(line));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  }
}

struct StepOutcome {
  std::string outcome = "success";  // success, failure, skipped
  Value outputs = Value::object();
};

// Steps of the job, or of a composite action inside it.
struct Scope {
  std::string prefix;               // "build" or "build/Use my action"
  Value steps = Value::object();    // the steps context
  std::optional<Value> inputs;      // the inputs context of a composite action
  fs::path action_path;
  bool composite = false;
  bool failed = false;
};

class JobRunner {
public:
  JobRunner(ActRun& run, const Workflow& wf, const Job& job, const Value& contexts, const Value& matrix,
            const Value& needs, const Value& strategy, std::string label)
      : m_run(run), m_wf(wf), m_job(job), m_contexts(contexts), m_matrix(matrix), m_needs(needs),
        m_strategy(strategy), m_label(std::move(label)) {}

  JobOutcome run() {
    JobOutcome outcome;
    auto dir = TempDir::create("job-", m_run.temp_root);
    if (!dir) return fail_job(dir.error().message);
    m_dir = dir->path();
    m_env = Value::object();
    for (const Value* src : {&m_wf.env, &m_job.env}) {
      auto ctx = contexts(m_root);
      for (const auto& [k, v] : src->items()) {
        auto s = interpolate_string(v.get<std::string>(), ctx);
        if (!s) return fail_job(s.error().message);
        m_env[k] = *s;
      }
    }
    // As act: --env (and --env-file) over the workflow's and the job's env; a step's over all.
    for (const auto& [k, v] : m_run.options.env) m_env[k] = v;
    if (!m_run.options.step.empty() && m_run.options.job == m_job.id)
      if (auto only = steps_for(m_job, m_run.options.step, [this](const Step& s) { return is_akbuild(s); }))
        m_only = std::move(*only);
    auto limit = timeout_minutes(m_job.timeout_minutes, contexts(m_root));
    if (!limit) return fail_job("timeout-minutes: " + limit.error().message);
    event("job_started", {}, m_label, "job started");
    if (*limit) m_cancel.request_at(std::chrono::steady_clock::now() + **limit);
    run_steps(m_job.steps, m_root);
    if (m_run.usage_error()) return {"failure", Value::object()};
    if (m_cancel.deadline_passed()) {
      // As on a runner: the job is cancelled, its outputs are not evaluated.
      m_run.out.line(m_label, "the job exceeded its timeout-minutes (" + format_minutes(**limit) +
                                  ") and was cancelled");
      event("job_finished", {{"result", "cancelled"}, {"outputs", Value::object()}}, m_label, "job cancelled");
      return {"cancelled", Value::object()};
    }
    auto ctx = contexts(m_root);
    for (const auto& [name, tmpl] : m_job.outputs.items()) {
      auto v = interpolate_string(tmpl.get<std::string>(), ctx);
      if (v) outcome.outputs[name] = *v;
      else m_run.out.line(m_label, "output '" + name + "': " + v.error().message);
    }
    outcome.result = m_root.failed ? "failure" : "success";
    event("job_finished", {{"result", outcome.result}, {"outputs", outcome.outputs}}, m_label,
          outcome.result == "success" ? "job succeeded" : "job failed");
    return outcome;
  }

private:
  // A timeout-minutes value (a number, or an expression giving one) as a duration; nullopt when
  // not set.
  static Result<std::optional<std::chrono::milliseconds>> timeout_minutes(const Value& v, const EvalContext& ctx) {
    if (v.is_null()) return std::optional<std::chrono::milliseconds>{};
    double minutes = 0;
    if (v.is_number()) {
      minutes = v.get<double>();
    } else if (v.is_string()) {
      auto text = AK_TRY(interpolate_string(v.get<std::string>(), ctx));
      char* end = nullptr;
      minutes = std::strtod(text.c_str(), &end);
      if (text.empty() || *end != '\0')
        return fail(ErrorCode::invalid_argument, "'" + text + "' is not a number of minutes");
    } else {
      return fail(ErrorCode::invalid_argument, "must be a number of minutes");
    }
    // At most a year: larger values (inf too) would overflow the conversion.
    if (!(minutes > 0) || minutes > 525600)
      return fail(ErrorCode::invalid_argument, "must be a number of minutes above 0, at most 525600");
    return std::optional<std::chrono::milliseconds>{static_cast<long long>(minutes * 60000)};
  }

  // A timeout as minutes, as a workflow writes it ("0.03", "360").
  static std::string format_minutes(std::chrono::milliseconds limit) {
    return fmt::format("{:g}", static_cast<double>(limit.count()) / 60000);
  }

  JobOutcome fail_job(const std::string& message) {
    m_run.out.line(m_label, "job failed: " + message);
    return {"failure", Value::object()};
  }

  void event(std::string_view type, Value fields, std::string_view prefix, std::string_view text) {
    fields["job"] = m_label;
    m_run.out.event(type, fields, prefix, text);
  }

  EvalContext contexts(const Scope& scope) const {
    EvalContext ctx;
    ctx.contexts = m_contexts;
    ctx.contexts["github"]["job"] = m_job.id;
    ctx.contexts["env"] = m_env;
    ctx.contexts["matrix"] = m_matrix;
    ctx.contexts["needs"] = m_needs;
    ctx.contexts["strategy"] = m_strategy;
    ctx.contexts["steps"] = scope.steps;
    ctx.contexts["job"] = {{"status", m_root.failed ? "failure" : "success"}};
    if (scope.inputs) ctx.contexts["inputs"] = *scope.inputs;
    ctx.status.failed = scope.failed;
    ctx.status.cancelled = m_run.cancelled.load();
    ctx.workspace = m_run.options.workspace;
    return ctx;
  }

  StepType classify(const Step& step, fs::path* action_dir) const {
    if (!step.run.empty() || step.uses.empty()) return StepType::run;
    if (is_akbuild_uses(step.uses)) return StepType::akbuild;
    if (step.uses.starts_with("actions/checkout@") || step.uses.find("/actions/checkout@") != std::string::npos)
      return StepType::checkout;
    if (step.uses.starts_with("./")) {
      *action_dir = m_run.options.workspace / step.uses.substr(2);
      return StepType::local_action;
    }
    return StepType::unsupported;
  }

  std::string step_prefix(const Scope& scope, const Step& step, const EvalContext& ctx) const {
    auto name = interpolate_string(step.display_name(), ctx);
    return scope.prefix + "/" + (name ? *name : step.display_name());
  }

  bool continue_on_error(const Step& step, const EvalContext& ctx) const {
    const Value& v = step.continue_on_error;
    if (v.is_string()) {
      auto r = interpolate(v.get<std::string>(), ctx);
      return r && truthy(*r);
    }
    return truthy(v);
  }

  void record(Scope& scope, const Step& step, const StepOutcome& result, const EvalContext& ctx,
              const std::string& prefix) {
    bool tolerated = result.outcome == "failure" && continue_on_error(step, ctx);
    std::string conclusion = tolerated ? "success" : result.outcome;
    if (!step.id.empty())
      scope.steps[step.id] = {{"outputs", result.outputs}, {"outcome", result.outcome}, {"conclusion", conclusion}};
    if (result.outcome == "failure" && !tolerated) scope.failed = true;
    std::string text = result.outcome == "success" ? "success" : result.outcome == "skipped" ? "skipped" : "failure";
    if (tolerated) text = "failure (continue-on-error)";
    event("step_finished",
          {{"step", prefix.substr(prefix.find('/') + 1)}, {"id", step.id}, {"outcome", result.outcome},
           {"conclusion", conclusion}, {"outputs", result.outputs}},
          prefix, text);
  }

  void run_steps(const std::vector<Step>& steps, Scope& scope) {
    for (std::size_t i = 0; i < steps.size(); ++i) {
      if (m_run.usage_error() || m_cancel.deadline_passed()) return;
      const Step& step = steps[i];
      if (!wanted(scope, step)) continue;
      EvalContext ctx = contexts(scope);
      std::string prefix = step_prefix(scope, step, ctx);
      auto go = evaluate_condition(step.condition, ctx);
      if (!go) {
        m_run.out.line(prefix, "if: " + go.error().message);
        record(scope, step, {"failure", Value::object()}, ctx, prefix);
        continue;
      }
      if (!*go) {
        record(scope, step, {"skipped", Value::object()}, ctx, prefix);
        continue;
      }
      fs::path action_dir;
      StepType type = classify(step, &action_dir);
      if (type == StepType::local_action && names_akbuild_step(action_dir)) type = StepType::akbuild;
      if (type == StepType::akbuild) {
        std::vector<const Step*> batch{&step};
        // Consecutive akbuild steps go to the engine together; a step whose condition reads
        // `steps.` waits for the batch before it.
        std::size_t j = i + 1;
        for (; j < steps.size(); ++j) {
          if (!wanted(scope, steps[j])) continue;
          fs::path d;
          StepType t = classify(steps[j], &d);
          if (t == StepType::local_action && names_akbuild_step(d)) t = StepType::akbuild;
          if (t != StepType::akbuild || steps[j].condition.find("steps.") != std::string::npos) break;
          EvalContext c = contexts(scope);
          auto g = evaluate_condition(steps[j].condition, c);
          if (!g) break;
          if (!*g) {
            record(scope, steps[j], {"skipped", Value::object()}, c, step_prefix(scope, steps[j], c));
            continue;
          }
          batch.push_back(&steps[j]);
        }
        run_akbuild_batch(batch, scope);
        i = j - 1;
        continue;
      }
      StepOutcome result;
      switch (type) {
      case StepType::run: result = run_script(step, scope, ctx, prefix); break;
      case StepType::checkout:
        m_run.out.line(prefix, "actions/checkout: the workspace is the checkout; nothing to do");
        break;
      case StepType::local_action: result = run_local_action(step, action_dir, scope, ctx, prefix); break;
      default:
        m_run.out.line(prefix, "'" + step.uses + "' is not runnable locally (only akbuild/step, actions/checkout, "
                               "run: steps and local composite actions are)");
        result.outcome = "failure";
      }
      record(scope, step, result, ctx, prefix);
    }
  }

  // Whether the step goes to the engine (akbuild/step, or a local copy of its action).
  bool is_akbuild(const Step& step) {
    fs::path dir;
    StepType type = classify(step, &dir);
    return type == StepType::akbuild || (type == StepType::local_action && names_akbuild_step(dir));
  }

  // Whether --step leaves the step to run (every step of a composite action does).
  bool wanted(const Scope& scope, const Step& step) const {
    return scope.composite || !m_only || m_only->count(step.index);
  }

  // The action.yml in `dir`, read once per job.
  const Result<Action>& action_at(const fs::path& dir) {
    auto it = m_actions.find(dir);
    if (it == m_actions.end()) it = m_actions.emplace(dir, load_action(dir)).first;
    return it->second;
  }

  bool names_akbuild_step(const fs::path& dir) {
    const auto& action = action_at(dir);
    if (!action) return false;
    auto name = lower_ascii(action->name);
    return name == steps::k_action_name || name.find("akbuild/step") != std::string::npos;
  }

  // The command line for a shell as GitHub documents `shell:` ({0} is the script file).
  Result<std::vector<std::string>> shell_command(const std::string& shell, const fs::path& script) const {
    std::string s = shell.empty() ? "bash" : shell;
    std::string f = script.string();
    if (s == "bash") return std::vector<std::string>{"bash", "--noprofile", "--norc", "-eo", "pipefail", f};
    if (s == "sh") return std::vector<std::string>{"sh", "-e", f};
    if (s == "python") return std::vector<std::string>{"python3", f};
    if (s.find("{0}") == std::string::npos)
      return fail(ErrorCode::invalid_argument, "shell '" + s + "' is not supported (bash, sh, python, or a command with {0})");
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

  std::map<std::string, std::string> process_env(const Scope& scope, const Step& step, const EvalContext& ctx,
                                                 const std::map<std::string, std::string>& files, std::string* error) const {
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
    if (scope.composite) vars["GITHUB_ACTION_PATH"] = scope.action_path.string();
    for (const auto& [k, v] : files) vars[k] = v;
    for (const auto& [k, v] : vars) {
      env[k] = v;
      if (k.starts_with("GITHUB_")) env["FORGEJO_" + k.substr(7)] = v;
    }
    for (const auto& [k, v] : m_env.items()) env[k] = v.get<std::string>();
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

  StepOutcome run_script(const Step& step, Scope& scope, const EvalContext& ctx, const std::string& prefix) {
    StepOutcome r;
    auto script = interpolate_string(step.run, ctx);
    if (m_run.out.dry_run()) {
      std::string text = script ? *script : step.run;
      std::string first = text.substr(0, text.find('\n'));
      event("step_plan", {{"step", prefix.substr(prefix.find('/') + 1)}, {"type", "run"}, {"script", first}}, prefix,
            "would run: " + first);
      return r;
    }
    r.outcome = "failure";
    if (!script) {
      m_run.out.line(prefix, script.error().message);
      return r;
    }
    std::string shell = step.shell;
    if (shell.empty() && !scope.composite) shell = !m_job.defaults.shell.empty() ? m_job.defaults.shell : m_wf.defaults.shell;
    if (scope.composite && shell.empty()) {
      m_run.out.line(prefix, "a run step of a composite action needs 'shell'");
      return r;
    }
    std::string n = std::to_string(m_counter++);
    std::map<std::string, std::string> files = {
        {"GITHUB_OUTPUT", (m_dir / ("output-" + n)).string()}, {"GITHUB_ENV", (m_dir / ("env-" + n)).string()},
        {"GITHUB_PATH", (m_dir / ("path-" + n)).string()}, {"GITHUB_STATE", (m_dir / ("state-" + n)).string()},
        {"GITHUB_STEP_SUMMARY", (m_dir / ("summary-" + n)).string()}};
    for (const auto& [k, p] : files)
      if (auto w = write_file(p, ""); !w) { m_run.out.line(prefix, w.error().message); return r; }
    // The script may hold secrets: it stays in memory (not on disk, not in argv), and the shell
    // reads it through its descriptor.
    auto file = exec::memory_file("step-" + n, *script + "\n");
    if (!file) { m_run.out.line(prefix, file.error().message); return r; }
    auto argv = shell_command(shell, "/dev/fd/" + std::to_string(file->get()));
    if (!argv) { m_run.out.line(prefix, argv.error().message); return r; }
    std::string env_error;
    exec::ProcessSpec spec;
    spec.argv = *argv;
    spec.keep_fds = {file->get()};
    spec.env = process_env(scope, step, ctx, files, &env_error);
    if (!env_error.empty()) { m_run.out.line(prefix, env_error); return r; }
    std::string wd = interpolate_string(step.working_directory, ctx).value_or(step.working_directory);
    if (wd.empty() && !scope.composite)
      wd = !m_job.defaults.working_directory.empty() ? m_job.defaults.working_directory : m_wf.defaults.working_directory;
    spec.cwd = wd.empty() ? m_run.options.workspace : m_run.options.workspace / wd;
    auto limit = timeout_minutes(step.timeout_minutes, ctx);
    if (!limit) { m_run.out.line(prefix, "timeout-minutes: " + limit.error().message); return r; }
    if (*limit) spec.timeout = **limit;
    auto on_line = [&](const exec::LogLine& l) {
      // `::add-mask::VALUE` registers a secret for the rest of the run; the line is not shown.
      if (auto value = parse_add_mask(l.text)) add_secret(std::move(*value));
      else m_run.out.line(prefix, l.text);
    };
    auto result = exec::run_process(spec, on_line, &m_cancel);
    if (!result) { m_run.out.line(prefix, result.error().message); return r; }
    if (!result->success()) {
      m_run.out.line(prefix, "failed: " + result->describe());
    } else {
      r.outcome = "success";
    }
    // The files are honoured after failures too, as GitHub's runner does.
    if (auto t = read_file(files["GITHUB_OUTPUT"])) {
      if (auto kv = parse_env_file(*t, "GITHUB_OUTPUT")) for (auto& [k, v] : *kv) r.outputs[k] = v;
      else { m_run.out.line(prefix, kv.error().message); r.outcome = "failure"; }
    }
    if (auto t = read_file(files["GITHUB_ENV"])) {
      if (auto kv = parse_env_file(*t, "GITHUB_ENV")) for (auto& [k, v] : *kv) m_env[k] = v;
      else { m_run.out.line(prefix, kv.error().message); r.outcome = "failure"; }
    }
    if (auto t = read_file(files["GITHUB_PATH"]))
      for (auto& p : parse_path_file(*t)) m_path.push_back(p);
    return r;
  }

  StepOutcome run_local_action(const Step& step, const fs::path& dir, Scope& /*scope*/, const EvalContext& ctx,
                               const std::string& prefix) {
    StepOutcome r;
    r.outcome = "failure";
    const auto& loaded = action_at(dir);
    if (!loaded) {
      m_run.out.line(prefix, "'" + step.uses + "': " + loaded.error().message);
      return r;
    }
    const Action& action = *loaded;
    if (action.runs_using != "composite") {
      m_run.out.line(prefix, "'" + step.uses + "': runs.using '" + action.runs_using +
                                 "' is not runnable locally (composite is)");
      return r;
    }
    if (m_run.out.dry_run()) m_run.out.line(prefix, "composite action " + step.uses);
    Scope inner;
    inner.prefix = prefix;
    inner.composite = true;
    inner.action_path = dir;
    inner.inputs = Value::object();
    for (const auto& [k, d] : action.input_defaults) {
      auto v = interpolate_string(d, ctx);
      (*inner.inputs)[k] = v ? *v : std::string();
    }
    for (const auto& [k, v] : step.with.items()) {
      auto s = interpolate_string(v.get<std::string>(), ctx);
      if (!s) { m_run.out.line(prefix, "with." + k + ": " + s.error().message); return r; }
      (*inner.inputs)[k] = *s;
    }
    const std::vector<Step>& steps = action.steps;
    Value saved_env = m_env;
    for (const auto& [k, v] : step.env.items()) m_env[k] = interpolate_string(v.get<std::string>(), ctx).value_or("");
    run_steps(steps, inner);
    m_env = saved_env;
    if (!action.outputs.empty()) {
      EvalContext ictx = contexts(inner);
      for (const auto& [k, value] : action.outputs) r.outputs[k] = interpolate_string(value, ictx).value_or("");
    }
    r.outcome = inner.failed ? "failure" : "success";
    return r;
  }

  // Renders the engine's events of one batch as `[job/step]` lines (or JSON objects).
  class BatchSink final : public engine::EventSink {
  public:
    BatchSink(JobRunner& job, const std::map<std::string, std::string>& prefixes) : m_job(job), m_prefixes(prefixes) {}
    void on_event(const engine::Event& e) override {
      if (std::holds_alternative<engine::Progress>(e.body)) return;
      const std::string& id = engine::step_id(e);
      auto it = m_prefixes.find(id);
      std::string prefix = it != m_prefixes.end() ? it->second : m_job.m_label + "/" + id;
      const auto* log = std::get_if<engine::LogLine>(&e.body);
      const auto* state = std::get_if<engine::StateChange>(&e.body);
      const std::string& text = log ? log->text : state->text;
      if (m_job.m_run.out.json()) {
        Value fields(engine::to_json(e));  // converted, not dumped and re-parsed
        fields.erase("event");
        fields["job"] = m_job.m_label;
        m_job.m_run.out.event("engine_" + std::string(engine::event_name(e)), fields, prefix, text);
        return;
      }
      if (log) {
        m_job.m_run.out.line(prefix, text);
        return;
      }
      using S = engine::StepState;
      switch (state->state) {
      case S::started: m_job.m_run.out.line(prefix, "cache miss: running"); break;
      // One line as each step ends: hit or ran, and how long it took (the main job's summary).
      case S::finished:
        if (auto ok = state->values.find("success"); ok != state->values.end() && ok->second == "true") {
          auto d = state->values.find("duration_ms");
          double ms = d != state->values.end() ? std::strtod(d->second.c_str(), nullptr) : 0.0;
          m_job.m_run.out.line(prefix, fmt::format("{} in {:.2f} s", text == "hit" ? "cache hit" : "ran", ms / 1000));
        }
        break;
      case S::failed: m_job.m_run.out.line(prefix, "failed: " + text); break;
      case S::skipped: m_job.m_run.out.line(prefix, "skipped: a dependency failed"); break;
      default: break;
      }
    }

  private:
    JobRunner& m_job;
    const std::map<std::string, std::string>& m_prefixes;
  };

  void run_akbuild_batch(const std::vector<const Step*>& batch, Scope& scope) {
    EvalContext ctx = contexts(scope);
    std::vector<engine::StepRequest> requests;
    std::vector<const Step*> steps;
    std::map<std::string, std::string> prefixes;
    for (const Step* s : batch) {
      std::string prefix = step_prefix(scope, *s, ctx);
      engine::StepRequest req;
      req.id = s->id.empty() ? m_job.id + "-" + std::to_string(s->index + 1) : s->id;
      std::string error;
      for (const auto& [k, v] : s->with.items()) {
        auto str = interpolate_string(v.get<std::string>(), ctx);
        if (!str) { error = "with." + k + ": " + str.error().message; break; }
        if (k == "kind") req.kind = *str;
        else if (k == "id") req.id = str->empty() ? req.id : *str;
        else if (k == "mask") mask_lines(*str);
        else if (k == "explain" && *str != "true" && *str != "false") error = "with.explain: '" + *str + "' is not true or false";
        // The action's other inputs say how it starts akbuild (explain, executor, akbuild); here
        // akbuild is already running the step.
        else if (!steps::is_action_input(k)) req.with[k] = *str;
      }
      if (error.empty() && req.kind.empty()) error = "akbuild/step needs 'with: kind:'";
      if (error.empty()) {
        if (auto limit = timeout_minutes(s->timeout_minutes, ctx); !limit) error = "timeout-minutes: " + limit.error().message;
        else if (*limit) req.timeout = **limit;
      }
      if (!error.empty()) {
        m_run.out.line(prefix, error);
        record(scope, *s, {"failure", Value::object()}, ctx, prefix);
        continue;
      }
      prefixes[req.id] = prefix;
      requests.push_back(std::move(req));
      steps.push_back(s);
    }
    if (requests.empty()) return;
    auto fail_all = [&](const Error& e) {
      if (e.code == ErrorCode::invalid_argument) {
        m_run.set_usage_error(e.context(m_label));
        return;
      }
      for (std::size_t i = 0; i < steps.size(); ++i) {
        m_run.out.line(prefixes[requests[i].id], e.message);
        record(scope, *steps[i], {"failure", Value::object()}, ctx, prefixes[requests[i].id]);
      }
    };
    auto eng = m_run.engine();
    if (!eng) return fail_all(eng.error());
    if (m_run.out.dry_run()) {
      auto plan = (*eng)->plan(requests);
      // The engine plans a batch as a whole; when it fails, the first step whose plan fails (with
      // the steps before it) is the one named. Those before it are planned, those after it are
      // skipped, as after a failed step in a real run.
      std::size_t failed_at = requests.size();
      std::optional<Error> plan_error;
      if (!plan) {
        if (plan.error().code == ErrorCode::invalid_argument) return fail_all(plan.error());
        plan_error = plan.error();
        plan = std::vector<engine::PlannedStep>{};
        for (failed_at = 0; failed_at < requests.size(); ++failed_at) {
          auto head = (*eng)->plan({requests.begin(), requests.begin() + static_cast<std::ptrdiff_t>(failed_at) + 1});
          if (!head) {
            plan_error = head.error();
            break;
          }
          plan = std::move(head);
        }
      }
      for (std::size_t i = 0; i < steps.size(); ++i) {
        if (i >= failed_at) {
          const std::string& prefix = prefixes[requests[i].id];
          if (i == failed_at) m_run.out.line(prefix, plan_error->message);
          record(scope, *steps[i], {i == failed_at ? "failure" : "skipped", Value::object()}, ctx, prefix);
          continue;
        }
        const engine::PlannedStep* p = nullptr;
        for (const auto& ps : *plan)
          if (ps.id == requests[i].id) p = &ps;
        const std::string& prefix = prefixes[requests[i].id];
        StepOutcome r;
        if (!p) {
          r.outcome = "failure";
          m_run.out.line(prefix, "the engine did not plan this step");
        } else {
          Value fields = {{"step", prefix.substr(prefix.find('/') + 1)}, {"type", "akbuild"}, {"id", p->id},
                          {"kind", p->kind}, {"key", p->key}, {"hit", p->hit}};
          if (m_run.options.explain) fields["explain"] = p->explain;
          event("step_plan", fields, prefix,
                "akbuild " + p->kind + ": key " + p->key + " " + (p->hit ? "hit" : "miss: would run"));
          if (m_run.options.explain && !p->hit && !m_run.out.json())
            for (const auto& line : p->explain) m_run.out.line(prefix, "  " + line);
          // Mocked outputs, so that later conditions and expressions see plausible values.
          r.outputs = {{"cache-hit", p->hit ? "true" : "false"}, {"key", p->key}};
        }
        record(scope, *steps[i], r, ctx, prefix);
      }
      return;
    }
    BatchSink sink(*this, prefixes);
    auto results = (*eng)->run(requests, sink, &m_cancel);
    if (!results) return fail_all(results.error());
    for (std::size_t i = 0; i < steps.size(); ++i) {
      const engine::StepResult* res = nullptr;
      for (const auto& sr : *results)
        if (sr.id == requests[i].id) res = &sr;
      StepOutcome r;
      if (!res || !res->success) {
        r.outcome = "failure";
        if (res && res->error) m_run.out.line(prefixes[requests[i].id], res->error->message);
      }
      if (res)
        for (const auto& [k, v] : res->outputs) r.outputs[k] = v;
      record(scope, *steps[i], r, ctx, prefixes[requests[i].id]);
    }
  }

  ActRun& m_run;
  const Workflow& m_wf;
  const Job& m_job;
  Value m_contexts, m_matrix, m_needs, m_strategy;
  std::string m_label;
  Scope m_root{m_label, Value::object(), std::nullopt, {}, false, false};
  fs::path m_dir;
  Value m_env;
  std::vector<std::string> m_path;
  int m_counter = 0;
  std::map<fs::path, Result<Action>> m_actions;  // by directory (action_at)
  std::optional<std::set<std::size_t>> m_only;   // --step: the steps of this job that run
  // Requested when the job's timeout-minutes pass, for the step then running.
  exec::CancelToken m_cancel;
};

} // namespace

JobOutcome run_job(ActRun& run, const Workflow& wf, const Job& job, const Value& contexts, const Value& matrix,
                   const Value& needs, const Value& strategy, const std::string& label) {
  return JobRunner(run, wf, job, contexts, matrix, needs, strategy, label).run();
}

} // namespace akbuild::workflow
