#include "runner/workflow/workflow.hh"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>
#include <regex>
#include <set>

#include <yaml-cpp/yaml.h>

#include "runner/core/fs.hh"
#include "runner/workflow/expr/expression.hh"
#include "runner/workflow/expr_check.hh"
#include "runner/workflow/yaml_check.hh"

namespace akbuild::workflow {

namespace {

// The member `key` of a map node, or an undefined node (yaml-cpp's operator[] on a missing key
// yields a node that throws on most uses).
YAML::Node child(const YAML::Node& n, const char* key) {
  if (n.IsMap())
    if (auto c = n[key]; c.IsDefined()) return c;
  return YAML::Node(YAML::NodeType::Undefined);
}

class Reader {
public:
  explicit Reader(const std::filesystem::path& file) : m_file(file.string()) {}

  Error error(const YAML::Mark& m, const std::string& what) const {
    std::string where = m_file;
    if (m.line >= 0) where += ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
    return Error{ErrorCode::invalid_argument, where + ": " + what};
  }
  Location location(const YAML::Node& n) const {
    auto m = n.Mark();
    return m.line >= 0 ? Location{m.line + 1, m.column + 1} : Location{};
  }

  Value value(const YAML::Node& n) const {
    switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return nullptr;
    case YAML::NodeType::Scalar: return scalar(n);
    case YAML::NodeType::Sequence: {
      Value out = Value::array();
      for (const auto& item : n) out.push_back(value(item));
      return out;
    }
    case YAML::NodeType::Map: {
      Value out = Value::object();
      for (const auto& kv : n) out[kv.first.Scalar()] = value(kv.second);
      return out;
    }
    }
    return nullptr;
  }

  // YAML 1.2 core schema for plain scalars; quoted scalars (tag "!") stay strings.
  static Value scalar(const YAML::Node& n) {
    const std::string& s = n.Scalar();
    if (n.Tag() == "!") return s;
    if (s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
    static const std::regex number(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
    // strtod, not stod: a number too large for a double ("1e999") is infinity, not an exception.
    if (std::regex_match(s, number)) return std::strtod(s.c_str(), nullptr);
    return s;
  }

  // A timeout-minutes value. A number too large for a double ("1e999") is refused here, where the
  // file can be named; the range of finite ones is checked when the step or job runs, like an
  // expression's value.
  Result<Value> minutes(const YAML::Node& n) const {
    Value v = value(n);
    if (v.is_number() && !std::isfinite(v.get<double>()))
      return fail(error(n.Mark(), "'timeout-minutes' must be a finite number of minutes"));
    return v;
  }

  Result<std::string> string(const YAML::Node& n, const std::string& key) const {
    if (!n.IsDefined() || n.IsNull()) return std::string();
    if (!n.IsScalar()) return fail(error(n.Mark(), "'" + key + "' must be a string"));
    return n.Scalar();
  }

  Result<Value> string_map(const YAML::Node& n, const std::string& key) const {
    Value out = Value::object();
    if (!n.IsDefined() || n.IsNull()) return out;
    if (!n.IsMap()) return fail(error(n.Mark(), "'" + key + "' must be a map"));
    for (const auto& kv : n) {
      if (!kv.second.IsScalar() && !kv.second.IsNull())
        return fail(error(kv.second.Mark(), "'" + key + "." + kv.first.Scalar() + "' must be a scalar"));
      out[kv.first.Scalar()] = kv.second.IsNull() ? Value("") : Value(kv.second.Scalar());
    }
    return out;
  }

  Result<RunDefaults> defaults(const YAML::Node& n) const {
    RunDefaults d;
    if (!n.IsDefined() || n.IsNull()) return d;
    if (!n.IsMap()) return fail(error(n.Mark(), "'defaults' must be a map"));
    auto run = child(n, "run");
    if (!run.IsDefined()) return d;
    if (!run.IsMap()) return fail(error(run.Mark(), "'defaults.run' must be a map"));
    d.shell = AK_TRY(string(child(run, "shell"), "defaults.run.shell"));
    d.working_directory = AK_TRY(string(child(run, "working-directory"), "defaults.run.working-directory"));
    return d;
  }

  Result<WorkflowStep> step(const YAML::Node& n, std::size_t index) const {
    if (!n.IsMap()) return fail(error(n.Mark(), "a step must be a map"));
    WorkflowStep s;
    s.index = index;
    s.location = location(n);
    static const std::set<std::string> known{"id", "name", "uses", "run", "with", "env", "if", "shell",
                                             "working-directory", "continue-on-error", "timeout-minutes"};
    for (const auto& kv : n)
      if (!known.count(kv.first.Scalar()))
        return fail(error(kv.first.Mark(), "unknown step key '" + kv.first.Scalar() + "'"));
    s.id = AK_TRY(string(child(n, "id"), "id"));
    s.name = AK_TRY(string(child(n, "name"), "name"));
    s.uses = AK_TRY(string(child(n, "uses"), "uses"));
    s.run = AK_TRY(string(child(n, "run"), "run"));
    s.shell = AK_TRY(string(child(n, "shell"), "shell"));
    s.working_directory = AK_TRY(string(child(n, "working-directory"), "working-directory"));
    s.condition = AK_TRY(string(child(n, "if"), "if"));
    s.with = AK_TRY(string_map(child(n, "with"), "with"));
    s.env = AK_TRY(string_map(child(n, "env"), "env"));
    if (child(n, "continue-on-error").IsDefined()) s.continue_on_error = value(child(n, "continue-on-error"));
    if (child(n, "timeout-minutes").IsDefined())
      s.timeout_minutes = AK_TRY(minutes(child(n, "timeout-minutes")));
    bool has_run = child(n, "run").IsDefined(), has_uses = child(n, "uses").IsDefined();
    if (has_run == has_uses)
      return fail(error(n.Mark(), "a step needs exactly one of 'run' and 'uses'"));
    if (has_uses && !s.uses.starts_with("./") && !s.uses.starts_with("docker://") &&
        s.uses.find("${{") == std::string::npos) {
      static const std::regex remote(R"(^(https?://[^/]+/)?([^/@]+)/([^/@]+)(/([^@]*))?@(.+)$)");
      if (!std::regex_match(s.uses, remote))
        return fail(error(child(n, "uses").Mark(), "'" + s.uses +
                                                 "': Expected format {org}/{repo}[/path]@ref or "
                                                 "https://example.com/{org}/{repo}[/path]@ref"));
    }
    return s;
  }

  Result<Job> job(const std::string& id, const YAML::Node& n) const {
    if (!n.IsMap()) return fail(error(n.Mark(), "job '" + id + "' must be a map"));
    Job j;
    j.id = id;
    j.location = location(n);
    j.name = AK_TRY(string(child(n, "name"), "name"));
    j.uses = AK_TRY(string(child(n, "uses"), "uses"));
    if (!j.uses.empty()) {
      static const std::regex local(R"(^\./.+\.ya?ml$)");
      static const std::regex remote(R"(^(https?://[^/]+/)?[^/@]+/[^/@]+/[^@]+\.ya?ml@.+$)");
      if (!std::regex_match(j.uses, local) && !std::regex_match(j.uses, remote))
        return fail(error(child(n, "uses").Mark(), "job '" + id + "': '" + j.uses +
                                                       "' is not a reusable workflow (./path.yml or "
                                                       "{owner}/{repo}/path.yml@ref)"));
      if (auto with = child(n, "with"); with.IsDefined() && !with.IsNull()) {
        if (!with.IsMap()) return fail(error(with.Mark(), "job '" + id + "': 'with' must be a map"));
        j.with = value(with);
      }
      if (auto secrets = child(n, "secrets"); secrets.IsDefined() && !secrets.IsNull()) {
        if (!secrets.IsMap() && !(secrets.IsScalar() && secrets.Scalar() == "inherit"))
          return fail(error(secrets.Mark(), "job '" + id + "': 'secrets' must be a map or 'inherit'"));
        j.secrets = value(secrets);
      }
    } else {
      if (!child(n, "runs-on").IsDefined()) return fail(error(n.Mark(), "job '" + id + "' has no 'runs-on'"));
      j.runs_on = value(child(n, "runs-on"));
    }
    auto needs = child(n, "needs");
    if (needs.IsScalar()) j.needs.push_back(needs.Scalar());
    else if (needs.IsSequence())
      for (const auto& x : needs) {
        if (!x.IsScalar()) return fail(error(x.Mark(), "job '" + id + "': 'needs' entries must be job ids"));
        j.needs.push_back(x.Scalar());
      }
    else if (needs.IsDefined() && !needs.IsNull())
      return fail(error(needs.Mark(), "job '" + id + "': 'needs' must be a job id or a list of them"));
    j.condition = AK_TRY(string(child(n, "if"), "if"));
    if (auto st = child(n, "strategy"); st.IsDefined() && !st.IsNull()) {
      if (!st.IsMap()) return fail(error(st.Mark(), "job '" + id + "': 'strategy' must be a map"));
      if (child(st, "matrix").IsDefined()) {
        auto m = child(st, "matrix");
        if (!m.IsMap() && !m.IsScalar())
          return fail(error(m.Mark(), "job '" + id + "': 'strategy.matrix' must be a map or an expression"));
        j.strategy.matrix = value(m);
      }
      if (child(st, "fail-fast").IsDefined()) j.strategy.fail_fast = value(child(st, "fail-fast"));
      if (child(st, "max-parallel").IsDefined()) j.strategy.max_parallel = value(child(st, "max-parallel"));
    }
    j.env = AK_TRY(string_map(child(n, "env"), "env"));
    j.outputs = AK_TRY(string_map(child(n, "outputs"), "outputs"));
    j.defaults = AK_TRY(defaults(child(n, "defaults")));
    if (child(n, "timeout-minutes").IsDefined()) j.timeout_minutes = AK_TRY(minutes(child(n, "timeout-minutes")));
    if (child(n, "continue-on-error").IsDefined()) j.continue_on_error = value(child(n, "continue-on-error"));
    auto steps = child(n, "steps");
    if (!j.uses.empty()) {
      if (steps.IsDefined()) return fail(error(steps.Mark(), "job '" + id + "': a job with 'uses' has no 'steps'"));
      return j;
    }
    if (!steps.IsSequence() || steps.size() == 0)
      return fail(error(steps.IsDefined() ? steps.Mark() : n.Mark(), "job '" + id + "' has no steps"));
    std::set<std::string> ids;
    for (std::size_t i = 0; i < steps.size(); ++i) {
      auto s = AK_TRY(step(steps[i], i));
      if (!s.id.empty() && !ids.insert(s.id).second)
        return fail(error(steps[i].Mark(), "job '" + id + "': step id '" + s.id + "' is used twice"));
      j.steps.push_back(std::move(s));
    }
    return j;
  }

  std::string m_file;
};

Result<> check_needs(const Workflow& wf, const Reader& reader) {
  std::map<std::string, const Job*> by_id;
  for (const auto& j : wf.jobs) by_id[j.id] = &j;
  for (const auto& j : wf.jobs)
    for (const auto& n : j.needs)
      if (!by_id.count(n)) {
        YAML::Mark m;
        m.line = j.location.line - 1;
        m.column = j.location.column - 1;
        return fail(reader.error(m, "job '" + j.id + "' needs unknown job '" + n + "'"));
      }
  // Depth-first search for a cycle; reports it as a path.
  std::map<std::string, int> state;  // 0 new, 1 on stack, 2 done
  std::vector<std::string> stack;
  std::function<std::optional<std::string>(const std::string&)> visit = [&](const std::string& id) -> std::optional<std::string> {
    state[id] = 1;
    stack.push_back(id);
    for (const auto& n : by_id[id]->needs) {
      if (state[n] == 1) {
        auto from = std::find(stack.begin(), stack.end(), n);
        std::string path;
        for (auto it = from; it != stack.end(); ++it) path += *it + " -> ";
        return path + n;
      }
      if (state[n] == 0)
        if (auto c = visit(n)) return c;
    }
    stack.pop_back();
    state[id] = 2;
    return std::nullopt;
  };
  for (const auto& j : wf.jobs)
    if (state[j.id] == 0)
      if (auto cycle = visit(j.id)) {
        const Job* first = by_id[stack.front()];
        YAML::Mark m;
        m.line = first->location.line - 1;
        m.column = first->location.column - 1;
        return fail(reader.error(m, "'needs' cycle: " + *cycle));
      }
  return ok();
}

} // namespace

std::string WorkflowStep::display_name() const {
  if (!name.empty()) return name;
  if (!run.empty()) return "Run " + run.substr(0, run.find('\n'));
  // Several unnamed steps often use one action (akbuild/step@v1): the id tells them apart.
  if (!id.empty()) return "Run " + uses + " (" + id + ")";
  return "Run " + uses;
}

const Job* Workflow::find_job(std::string_view id) const {
  for (const auto& j : jobs)
    if (j.id == id) return &j;
  return nullptr;
}

Result<Workflow> parse_workflow(std::string_view yaml, const std::filesystem::path& file) {
  Reader r(file);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return fail(r.error(e.mark, e.msg));
  }
  if (auto fault = find_yaml_fault(root)) return fail(r.error(fault->mark, fault->message));
  if (!root.IsMap()) return fail(r.error(root.Mark(), "a workflow must be a map"));
  Workflow wf;
  wf.file = file;
  try {
    wf.name = AK_TRY(r.string(child(root, "name"), "name"));
    if (wf.name.empty()) wf.name = file.string();
    auto on = child(root, "on");
    if (!on.IsDefined()) on = child(root, "true");  // YAML 1.1 readers turn `on` into true
    wf.on = r.value(on);
    if (on.IsScalar()) wf.events.push_back(on.Scalar());
    else if (on.IsSequence())
      for (const auto& e : on) wf.events.push_back(e.Scalar());
    else if (on.IsMap())
      for (const auto& kv : on) wf.events.push_back(kv.first.Scalar());
    wf.env = AK_TRY(r.string_map(child(root, "env"), "env"));
    wf.defaults = AK_TRY(r.defaults(child(root, "defaults")));
    auto jobs = child(root, "jobs");
    if (!jobs.IsMap() || jobs.size() == 0) return fail(r.error(root.Mark(), "the workflow has no 'jobs'"));
    for (const auto& kv : jobs) wf.jobs.push_back(AK_TRY(r.job(kv.first.Scalar(), kv.second)));
  } catch (const YAML::Exception& e) {
    return fail(r.error(e.mark, e.msg));
  }
  AK_TRY_VOID(check_workflow_expressions(root, yaml, file.string()));
  AK_TRY_VOID(check_needs(wf, r));
  return wf;
}

Result<Workflow> load_workflow(const std::filesystem::path& file) {
  auto text = AK_TRY(read_file(file));
  return parse_workflow(text, file);
}

Result<Action> parse_action(std::string_view yaml, const std::filesystem::path& file) {
  Reader r(file);
  try {
    YAML::Node root = YAML::Load(std::string(yaml));
    if (auto fault = find_yaml_fault(root)) return fail(r.error(fault->mark, fault->message));
    if (!root.IsMap()) return fail(r.error(root.Mark(), "an action must be a map"));
    Action action;
    action.name = AK_TRY(r.string(child(root, "name"), "name"));
    if (auto inputs = child(root, "inputs"); inputs.IsMap())
      for (const auto& kv : inputs) {
        auto d = child(kv.second, "default");
        if (!d.IsDefined()) continue;
        std::string key = "inputs." + kv.first.Scalar() + ".default";
        std::string value = AK_TRY(r.string(d, key));
        // The contexts act's action schema allows an input's default (no secrets, steps, needs).
        static const std::vector<std::string> k_default_contexts{
            "github", "forgejo", "gitea", "forge", "inputs", "env", "strategy", "matrix", "job", "runner", "vars"};
        std::size_t offset = 0;
        if (auto checked = check_template(value, &offset, &k_default_contexts); !checked)
          return fail(r.error(d.Mark(), key + ": " + checked.error().message));
        action.input_defaults.emplace_back(kv.first.Scalar(), std::move(value));
      }
    if (auto outputs = child(root, "outputs"); outputs.IsMap())
      for (const auto& kv : outputs)
        action.outputs.emplace_back(kv.first.Scalar(),
                                    AK_TRY(r.string(child(kv.second, "value"), "outputs." + kv.first.Scalar() + ".value")));
    auto runs = child(root, "runs");
    if (!runs.IsMap()) return fail(r.error(root.Mark(), "the action has no 'runs' map"));
    action.runs_using = AK_TRY(r.string(child(runs, "using"), "runs.using"));
    if (action.runs_using.empty()) return fail(r.error(runs.Mark(), "the action has no 'runs.using'"));
    action.main = AK_TRY(r.string(child(runs, "main"), "runs.main"));
    action.pre = AK_TRY(r.string(child(runs, "pre"), "runs.pre"));
    action.post = AK_TRY(r.string(child(runs, "post"), "runs.post"));
    if (auto pre_if = AK_TRY(r.string(child(runs, "pre-if"), "runs.pre-if")); !pre_if.empty())
      action.pre_if = pre_if;
    if (auto post_if = AK_TRY(r.string(child(runs, "post-if"), "runs.post-if")); !post_if.empty())
      action.post_if = post_if;
    if (auto steps = child(runs, "steps"); steps.IsDefined()) {
      if (!steps.IsSequence()) return fail(r.error(steps.Mark(), "'runs.steps' must be a list"));
      action.has_steps = true;
      for (std::size_t i = 0; i < steps.size(); ++i) action.steps.push_back(AK_TRY(r.step(steps[i], i)));
    }
    return action;
  } catch (const YAML::Exception& e) {
    return fail(r.error(e.mark, e.msg));
  }
}

Result<Action> load_action(const std::filesystem::path& dir) {
  for (const char* name : {"action.yml", "action.yaml"}) {
    auto text = read_file(dir / name);
    if (text) return parse_action(*text, dir / name);
    if (text.error().code != ErrorCode::not_found) return fail(text.error());
  }
  return fail(ErrorCode::not_found, "no action.yml in " + dir.string());
}

std::vector<std::vector<std::string>> job_stages(const Workflow& wf, const std::vector<std::string>& only) {
  std::set<std::string> wanted;
  std::function<void(const std::string&)> want = [&](const std::string& id) {
    if (!wanted.insert(id).second) return;
    if (const Job* j = wf.find_job(id))
      for (const auto& n : j->needs) want(n);
  };
  if (only.empty())
    for (const auto& j : wf.jobs) wanted.insert(j.id);
  else
    for (const auto& id : only) want(id);
  std::map<std::string, int> level;
  std::function<int(const std::string&)> level_of = [&](const std::string& id) -> int {
    if (auto it = level.find(id); it != level.end()) return it->second;
    int l = 0;
    if (const Job* j = wf.find_job(id))
      for (const auto& n : j->needs) l = std::max(l, level_of(n) + 1);
    return level[id] = l;
  };
  std::vector<std::vector<std::string>> stages;
  for (const auto& j : wf.jobs) {
    if (!wanted.count(j.id)) continue;
    auto l = static_cast<std::size_t>(level_of(j.id));
    if (stages.size() <= l) stages.resize(l + 1);
    stages[l].push_back(j.id);
  }
  return stages;
}

} // namespace akbuild::workflow
