#include "runner/workflow/act_job.hh"

#include <cstdlib>
#include <optional>
#include <regex>
#include <tuple>

#include <fmt/format.h>

#include "runner/cas/cache_layout.hh"
#include "runner/core/fs.hh"
#include "runner/workflow/act_job_impl.hh"
#include "runner/workflow/remote_action.hh"
#include "runner/workflow/step_selection.hh"
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

Result<fs::path> ActRun::fetch_remote(const std::string& uses) const {
  // Where `owner/repo@ref` is cloned from, as act and forgejo-runner default it.
  auto url = host_env.find("AKBUILD_DEFAULT_ACTIONS_URL");
  auto remote = AK_TRY(parse_remote_action(uses, url != host_env.end() ? url->second : "https://data.forgejo.org"));
  return fetch_remote_action(remote, cas::CacheLayout{options.cache_dir}, host_env);
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

Result<std::optional<std::chrono::milliseconds>> timeout_minutes(const Value& v, const EvalContext& ctx) {
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
  // At most a year: larger values (inf too) would overflow the conversion. Zero, as in act, is
  // a limit already reached.
  if (!(minutes >= 0) || minutes > 525600)
    return fail(ErrorCode::invalid_argument, "must be a number of minutes from 0 to 525600");
  return std::optional<std::chrono::milliseconds>{static_cast<long long>(minutes * 60000)};
}

namespace {

enum class StepType { run, akbuild, checkout, local_action, remote_action, unsupported };

// `uses: akbuild/step@ref`, also with a path or an absolute https://host/ prefix.
bool is_akbuild_uses(const std::string& uses) {
  static const std::regex re(R"(^(https?://[^/]+/)?akbuild/step(/[^@]*)?@.+$)");
  return std::regex_match(uses, re);
}

StepType classify(const WorkflowStep& step, const fs::path& workspace, fs::path* action_dir) {
  if (!step.run.empty() || step.uses.empty()) return StepType::run;
  if (is_akbuild_uses(step.uses)) return StepType::akbuild;
  if (step.uses.starts_with("actions/checkout@") || step.uses.find("/actions/checkout@") != std::string::npos)
    return StepType::checkout;
  if (step.uses.starts_with("./")) {
    *action_dir = workspace / step.uses.substr(2);
    return StepType::local_action;
  }
  if (!step.uses.starts_with("docker://")) return StepType::remote_action;
  return StepType::unsupported;
}

// A timeout as minutes, as a workflow writes it ("0.03", "360").
std::string format_minutes(std::chrono::milliseconds limit) {
  return fmt::format("{:g}", static_cast<double>(limit.count()) / 60000);
}

bool continue_on_error(const WorkflowStep& step, const EvalContext& ctx) {
  const Value& v = step.continue_on_error;
  if (v.is_string()) {
    auto r = interpolate(v.get<std::string>(), ctx);
    return r && truthy(*r);
  }
  return truthy(v);
}

} // namespace

JobOutcome ActJob::run() {
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
  // As act does, whatever the workflow says: scripts test `env.ACT` to know where they run.
  m_env["ACT"] = "true";
  // As act: --env (and --env-file) over the workflow's and the job's env; a step's over all.
  for (const auto& [k, v] : m_run.options.env) m_env[k] = v;
  if (!m_run.options.step.empty() && m_run.options.job == m_job.id)
    if (auto only = steps_for(m_job, m_run.options.step, [this](const WorkflowStep& s) { return is_akbuild(s); }))
      m_only = std::move(*only);
  auto limit = timeout_minutes(m_job.timeout_minutes, contexts(m_root));
  if (!limit) return fail_job("timeout-minutes: " + limit.error().message);
  event("job_started", {}, m_label, "job started");
  // A dry run runs nothing, so no time limit applies to it.
  if (*limit && !m_run.out.dry_run()) m_cancel.request_at(std::chrono::steady_clock::now() + **limit);
  if (m_run.options.cancel) m_cancel.follow(m_run.options.cancel);
  run_pre_stages();
  run_steps(m_job.steps, m_root);
  run_post_stages();
  if (m_run.usage_error()) return {Outcome::failure, Value::object()};
  if (m_run.options.cancel && m_run.options.cancel->requested()) {
    event("job_finished", {{"result", "cancelled"}, {"outputs", Value::object()}}, m_label, "job cancelled");
    return {Outcome::cancelled, Value::object()};
  }
  if (m_cancel.deadline_passed()) {
    // As on a runner: the job is cancelled, its outputs are not evaluated.
    m_run.out.line(m_label, "the job exceeded its timeout-minutes (" + format_minutes(**limit) +
                                ") and was cancelled");
    event("job_finished", {{"result", "cancelled"}, {"outputs", Value::object()}}, m_label, "job cancelled");
    return {Outcome::cancelled, Value::object(), "context deadline exceeded"};  // act's words
  }
  auto ctx = contexts(m_root);
  for (const auto& [name, tmpl] : m_job.outputs.items()) {
    auto v = interpolate_string(tmpl.get<std::string>(), ctx);
    if (v) outcome.outputs[name] = *v;
    else m_run.out.line(m_label, "output '" + name + "': " + v.error().message);
  }
  outcome.result = m_root.failed ? Outcome::failure : Outcome::success;
  outcome.error = m_error;
  event("job_finished", {{"result", to_string(outcome.result)}, {"outputs", outcome.outputs}}, m_label,
        outcome.result == Outcome::success ? "job succeeded" : "job failed");
  return outcome;
}

JobOutcome ActJob::fail_job(const std::string& message) {
  m_run.out.line(m_label, "job failed: " + message);
  return {Outcome::failure, Value::object()};
}

void ActJob::event(std::string_view type, Value fields, std::string_view prefix, std::string_view text) {
  fields["job"] = m_label;
  m_run.out.event(type, fields, prefix, text);
}

EvalContext ActJob::contexts(const Scope& scope) const {
  EvalContext ctx;
  ctx.contexts = m_contexts;
  ctx.contexts["github"]["job"] = m_job.id;
  ctx.contexts["env"] = m_env;
  for (const auto& [k, v] : scope.env.items()) ctx.contexts["env"][k] = v;
  if (scope.composite) {
    ctx.contexts["github"]["action_path"] = scope.action_path.string();
    ctx.contexts["github"]["action_repository"] = scope.action_repository;
    ctx.contexts["github"]["action_ref"] = scope.action_ref;
  }
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

std::string ActJob::step_prefix(const Scope& scope, const WorkflowStep& step, const EvalContext& ctx) const {
  auto name = interpolate_string(step.display_name(), ctx);
  return scope.prefix + "/" + (name ? *name : step.display_name());
}

void ActJob::record(Scope& scope, const WorkflowStep& step, const StepOutcome& result, const EvalContext& ctx,
                    const std::string& prefix) {
  bool tolerated = result.outcome == Outcome::failure && continue_on_error(step, ctx);
  Outcome conclusion = tolerated ? Outcome::success : result.outcome;
  if (!step.id.empty())
    scope.steps[step.id] = {{"outputs", result.outputs}, {"outcome", to_string(result.outcome)},
                            {"conclusion", to_string(conclusion)}};
  if (result.outcome == Outcome::failure && !tolerated) scope.failed = true;
  std::string text(to_string(result.outcome));
  if (tolerated) text = "failure (continue-on-error)";
  Value fields = {{"step", prefix.substr(prefix.find('/') + 1)}, {"id", step.id}, {"outcome", to_string(result.outcome)},
                  {"conclusion", to_string(conclusion)}, {"outputs", result.outputs}};
  if (!scope.composite) fields["index"] = step.index;
  event("step_finished", fields, prefix, text);
}

void ActJob::announce(const Scope& scope, const WorkflowStep& step, const std::string& prefix) {
  if (scope.composite) return;
  Value fields = {{"job", m_label}, {"step", prefix.substr(prefix.find('/') + 1)}, {"index", step.index}};
  m_run.out.notice("step_started", fields);
}

void ActJob::run_steps(const std::vector<WorkflowStep>& steps, Scope& scope) {
  const fs::path& workspace = m_run.options.workspace;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (m_run.usage_error() || m_cancel.requested()) return;
    const WorkflowStep& step = steps[i];
    if (!wanted(scope, step)) continue;
    EvalContext ctx = contexts(scope);
    std::string prefix = step_prefix(scope, step, ctx);
    auto go = evaluate_condition(step.condition, ctx);
    if (!go) {
      m_run.out.line(prefix, "if: " + go.error().message);
      record(scope, step, {Outcome::failure, Value::object()}, ctx, prefix);
      continue;
    }
    if (!*go) {
      record(scope, step, {Outcome::skipped, Value::object()}, ctx, prefix);
      continue;
    }
    fs::path action_dir;
    StepType type = classify(step, workspace, &action_dir);
    if (type == StepType::local_action && names_akbuild_step(action_dir)) type = StepType::akbuild;
    if (type == StepType::akbuild) {
      std::vector<const WorkflowStep*> batch{&step};
      // Consecutive akbuild steps go to the engine together; a step whose condition reads
      // `steps.` waits for the batch before it.
      std::size_t j = i + 1;
      for (; j < steps.size(); ++j) {
        if (!wanted(scope, steps[j])) continue;
        fs::path d;
        StepType t = classify(steps[j], workspace, &d);
        if (t == StepType::local_action && names_akbuild_step(d)) t = StepType::akbuild;
        if (t != StepType::akbuild || steps[j].condition.find("steps.") != std::string::npos) break;
        EvalContext c = contexts(scope);
        auto g = evaluate_condition(steps[j].condition, c);
        if (!g) break;
        if (!*g) {
          record(scope, steps[j], {Outcome::skipped, Value::object()}, c, step_prefix(scope, steps[j], c));
          continue;
        }
        batch.push_back(&steps[j]);
      }
      for (const WorkflowStep* s : batch) {
        EvalContext c = contexts(scope);
        announce(scope, *s, step_prefix(scope, *s, c));
      }
      run_akbuild_batch(batch, scope);
      i = j - 1;
      continue;
    }
    announce(scope, step, prefix);
    StepOutcome result;
    switch (type) {
    case StepType::run: result = run_script(step, scope, ctx, prefix); break;
    case StepType::checkout:
      m_run.out.line(prefix, "actions/checkout: the workspace is the checkout; nothing to do");
      break;
    case StepType::local_action: result = run_local_action(step, action_dir, scope, ctx, prefix); break;
    case StepType::remote_action: {
      // As act: cloned (a dry run too), then run as a local action.
      auto dir = remote_action_dir(step.uses);
      if (dir) {
        result = run_local_action(step, *dir, scope, ctx, prefix);
        break;
      }
      m_run.out.line(prefix, "'" + step.uses + "' is not runnable locally: " + dir.error().message);
      result.outcome = Outcome::failure;
      break;
    }
    default:
      m_run.out.line(prefix, "'" + step.uses + "' is not runnable locally (only akbuild/step, actions/checkout, "
                             "run: steps and local composite actions are)");
      result.outcome = Outcome::failure;
    }
    record(scope, step, result, ctx, prefix);
  }
}

Result<fs::path> ActJob::remote_action_dir(const std::string& uses) {
  if (auto it = m_remote_dirs.find(uses); it != m_remote_dirs.end()) return it->second;
  return m_remote_dirs.emplace(uses, m_run.fetch_remote(uses)).first->second;
}

void ActJob::run_pre_stages() {
  for (const auto& step : m_job.steps) {
    fs::path ignored;
    if (classify(step, m_run.options.workspace, &ignored) != StepType::remote_action) continue;
    auto dir = remote_action_dir(step.uses);
    if (!dir) continue;  // the step itself reports it
    const auto& action = action_at(*dir);
    if (!action || action->pre.empty() || !action->runs_using.starts_with("node")) continue;
    EvalContext ctx = contexts(m_root);
    std::string prefix = m_label + "/Pre " + step_prefix(m_root, step, ctx).substr(m_label.size() + 1);
    auto go = evaluate_condition(action->pre_if, ctx);
    if (!go || !*go) {
      if (!go) m_run.out.line(prefix, "pre-if: " + go.error().message);
      m_root.failed = m_root.failed || !go;
      continue;
    }
    if (m_run.out.dry_run()) {
      event("step_plan", {{"step", prefix.substr(prefix.find('/') + 1)}, {"type", "node"}, {"main", action->pre}},
            prefix, "would run: node " + action->pre);
      continue;
    }
    std::string error;
    StepProcess p;
    p.argv = {"node", (*dir / action->pre).string()};
    p.cwd = m_run.options.workspace;
    p.state_key = m_root.prefix + "/" + std::to_string(step.index);  // main's, which sees the state
    p.env = action_inputs(step, *action, ctx, &error);
    p.env["GITHUB_ACTION_PATH"] = dir->string();
    std::tie(p.env["GITHUB_ACTION_REPOSITORY"], p.env["GITHUB_ACTION_REF"]) = action_identity(step.uses);
    StepOutcome r;
    if (error.empty()) r = run_step_process(step, m_root, ctx, prefix, p);
    else m_run.out.line(prefix, error);
    if (!error.empty() || r.outcome == Outcome::failure) m_root.failed = true;
    event("step_finished", {{"step", prefix.substr(prefix.find('/') + 1)}, {"outcome", to_string(r.outcome)}}, prefix,
          std::string(error.empty() ? to_string(r.outcome) : "failure"));
  }
}

bool ActJob::is_akbuild(const WorkflowStep& step) {
  fs::path dir;
  StepType type = classify(step, m_run.options.workspace, &dir);
  return type == StepType::akbuild || (type == StepType::local_action && names_akbuild_step(dir));
}

bool ActJob::wanted(const Scope& scope, const WorkflowStep& step) const {
  return scope.composite || !m_only || m_only->count(step.index);
}

const Result<Action>& ActJob::action_at(const fs::path& dir) {
  auto it = m_actions.find(dir);
  if (it == m_actions.end()) it = m_actions.emplace(dir, load_action(dir)).first;
  return it->second;
}

bool ActJob::names_akbuild_step(const fs::path& dir) {
  const auto& action = action_at(dir);
  if (!action) return false;
  auto name = lower_ascii(action->name);
  return name == steps::k_action_name || name.find("akbuild/step") != std::string::npos;
}

JobOutcome run_job(ActRun& run, const Workflow& wf, const Job& job, const Value& contexts, const Value& matrix,
                   const Value& needs, const Value& strategy, const std::string& label) {
  return ActJob(run, wf, job, contexts, matrix, needs, strategy, label).run();
}

} // namespace akbuild::workflow
