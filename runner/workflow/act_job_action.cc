// Local actions of an act job: composite actions run their steps in a scope of their own;
// JavaScript actions (runs.using node12/16/20/24) run their main with the host's node, with
// INPUT_* and the runner's env files, and register their post stage, which runs when the job's
// steps are done (act runs no pre stage for local actions).
#include "runner/workflow/act_job_impl.hh"

#include <algorithm>
#include <cctype>
#include <regex>
#include <tuple>

namespace akbuild::workflow {

namespace fs = std::filesystem;

namespace {

bool is_node_runtime(const std::string& using_) {
  return using_ == "node12" || using_ == "node16" || using_ == "node20" || using_ == "node24";
}

// INPUT_<NAME>: upper case, characters other than A-Z 0-9 - as '_' (act's and the runner's rule).
std::string input_env_name(const std::string& input) {
  std::string out = "INPUT_";
  for (char c : input) {
    char u = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    out += (std::isalnum(static_cast<unsigned char>(u)) || u == '-') ? u : '_';
  }
  return out;
}

} // namespace

std::pair<std::string, std::string> action_identity(const std::string& uses) {
  static const std::regex re(R"(^(?:https?://[^/]+/)?([^/@]+/[^/@]+)(?:/[^@]*)?@(.+)$)");
  std::smatch m;
  if (uses.starts_with("./") || !std::regex_match(uses, m, re)) return {};
  return {m[1].str(), m[2].str()};
}

StepOutcome ActJob::run_local_action(const WorkflowStep& step, const fs::path& dir, const Scope& outer,
                                     const EvalContext& ctx, const std::string& prefix) {
  StepOutcome r;
  r.outcome = Outcome::failure;
  const auto& loaded = action_at(dir);
  if (!loaded) {
    m_run.out.line(prefix, "'" + step.uses + "': " + loaded.error().message);
    // As act's dry run, which reads no local action: the run would fail here, the plan does not.
    if (m_run.out.dry_run()) r.outcome = Outcome::success;
    return r;
  }
  const Action& action = *loaded;
  if (is_node_runtime(action.runs_using)) return run_node_action(step, dir, action, outer, ctx, prefix);
  if (action.runs_using != "composite") {
    m_run.out.line(prefix, "'" + step.uses + "': runs.using '" + action.runs_using +
                               "' is not runnable locally (composite and node12/16/20/24 are)");
    return r;
  }
  if (!action.has_steps) {
    // act's words, which end its run (JobOutcome::error).
    m_run.out.line(prefix, "'" + step.uses + "': missing steps in composite action");
    if (m_run.out.dry_run()) r.outcome = Outcome::success;  // the plan does not fail, as above
    else if (m_error.empty()) m_error = "missing steps in composite action";
    return r;
  }
  if (m_run.out.dry_run()) m_run.out.line(prefix, "composite action " + step.uses);
  Scope inner;
  inner.prefix = prefix;
  inner.composite = true;
  inner.action_path = dir;
  std::tie(inner.action_repository, inner.action_ref) = action_identity(step.uses);
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
  // The step's env holds for the action's steps only, beneath what they write to GITHUB_ENV,
  // which outlives the action.
  inner.env = outer.env;
  for (const auto& [k, v] : step.env.items()) inner.env[k] = interpolate_string(v.get<std::string>(), ctx).value_or("");
  run_steps(action.steps, inner);
  if (!action.outputs.empty()) {
    EvalContext ictx = contexts(inner);
    for (const auto& [k, value] : action.outputs) r.outputs[k] = interpolate_string(value, ictx).value_or("");
  }
  r.outcome = inner.failed ? Outcome::failure : Outcome::success;
  return r;
}

StepOutcome ActJob::run_node_action(const WorkflowStep& step, const fs::path& dir, const Action& action,
                                    const Scope& scope, const EvalContext& ctx, const std::string& prefix) {
  StepOutcome r;
  if (action.main.empty()) {
    m_run.out.line(prefix, "'" + step.uses + "': runs.main is missing");
    r.outcome = Outcome::failure;
    return r;
  }
  std::string state_key = scope.prefix + "/" + std::to_string(step.index);
  if (!action.post.empty()) m_posts.push_back({&step, dir, &action, scope, prefix, state_key});
  if (m_run.out.dry_run()) {
    event("step_plan", {{"step", prefix.substr(prefix.find('/') + 1)}, {"type", "node"}, {"main", action.main}}, prefix,
          "would run: node " + action.main);
    return r;
  }
  StepProcess p;
  p.argv = {"node", (dir / action.main).string()};
  p.cwd = m_run.options.workspace;
  p.state_key = state_key;
  std::string error;
  p.env = action_inputs(step, action, ctx, &error);
  if (!error.empty()) {
    m_run.out.line(prefix, error);
    r.outcome = Outcome::failure;
    return r;
  }
  p.env["GITHUB_ACTION_PATH"] = dir.string();
  std::tie(p.env["GITHUB_ACTION_REPOSITORY"], p.env["GITHUB_ACTION_REF"]) = action_identity(step.uses);
  m_inputs_env[state_key] = p.env;
  for (const auto& [k, v] : m_state[state_key]) p.env["STATE_" + k] = v;  // what the pre stage saved
  return run_step_process(step, scope, ctx, prefix, p);
}

std::map<std::string, std::string> ActJob::action_inputs(const WorkflowStep& step, const Action& action,
                                                         const EvalContext& ctx, std::string* error) const {
  std::map<std::string, std::string> env;
  for (const auto& [k, d] : action.input_defaults) env[input_env_name(k)] = interpolate_string(d, ctx).value_or(d);
  for (const auto& [k, v] : step.with.items()) {
    auto s = interpolate_string(v.get<std::string>(), ctx);
    if (!s) {
      *error = "with." + k + ": " + s.error().message;
      return {};
    }
    env[input_env_name(k)] = *s;
  }
  return env;
}

void ActJob::run_post_stages() {
  for (auto it = m_posts.rbegin(); it != m_posts.rend(); ++it) {
    if (m_run.usage_error()) return;
    const PostStage& post = *it;
    std::string prefix = post.scope.prefix + "/Post " + post.prefix.substr(post.prefix.rfind('/') + 1);
    EvalContext ctx = contexts(post.scope);
    ctx.status.failed = m_root.failed;
    auto go = evaluate_condition(post.action->post_if, ctx);
    if (!go) {
      m_run.out.line(prefix, "post-if: " + go.error().message);
      m_root.failed = true;
      continue;
    }
    if (!*go) continue;
    if (m_run.out.dry_run()) {
      event("step_plan", {{"step", prefix.substr(prefix.find('/') + 1)}, {"type", "node"}, {"main", post.action->post}},
            prefix, "would run: node " + post.action->post);
      continue;
    }
    StepProcess p;
    p.argv = {"node", (post.dir / post.action->post).string()};
    p.cwd = m_run.options.workspace;
    p.state_key = post.state_key;
    p.env = m_inputs_env[post.state_key];
    for (const auto& [k, v] : m_state[post.state_key]) p.env["STATE_" + k] = v;
    StepOutcome r = run_step_process(*post.step, post.scope, ctx, prefix, p);
    event("step_finished", {{"step", prefix.substr(prefix.find('/') + 1)}, {"outcome", to_string(r.outcome)}}, prefix,
          std::string(to_string(r.outcome)));
    if (r.outcome == Outcome::failure) m_root.failed = true;
  }
}

} // namespace akbuild::workflow
