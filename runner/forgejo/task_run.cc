#include "runner/forgejo/task_run.hh"

#include <sstream>

#include <google/protobuf/util/json_util.h>
#include <yaml-cpp/yaml.h>

#include "runner/core/fs.hh"
#include "runner/core/secrets.hh"
#include "runner/workflow/act.hh"

namespace akbuild::forgejo {

namespace fs = std::filesystem;
using workflow::Value;

namespace {

runner::v1::Result result_of(std::string_view outcome) {
  if (outcome == "success") return runner::v1::RESULT_SUCCESS;
  if (outcome == "skipped") return runner::v1::RESULT_SKIPPED;
  if (outcome == "cancelled") return runner::v1::RESULT_CANCELLED;
  return runner::v1::RESULT_FAILURE;
}

std::string_view result_name(runner::v1::Result r) {
  switch (r) {
  case runner::v1::RESULT_SUCCESS: return "success";
  case runner::v1::RESULT_FAILURE: return "failure";
  case runner::v1::RESULT_CANCELLED: return "cancelled";
  case runner::v1::RESULT_SKIPPED: return "skipped";
  default: return "";
  }
}

// Turns the act run's events into the reporter's calls. Log lines name their step by prefix
// ("job/Step name", "job/Step name/inner step" inside a composite action); the step_started
// event ties a prefix to a step index.
class EventRelay {
public:
  EventRelay(TaskReporter& reporter, const exec::CancelToken& cancel) : m_reporter(reporter), m_cancel(cancel) {}

  void operator()(const Value& e) {
    const std::string type = e.value("event", "");
    if (type == "step_started") {
      auto index = e["index"].get<std::size_t>();
      m_prefixes[e.value("job", "") + "/" + e.value("step", "")] = index;
      m_reporter.step_started(index);
    } else if (type == "step_finished" && e.contains("index")) {
      auto result = result_of(e.value("conclusion", "failure"));
      // A step stopped by the task's cancellation failed because of it: Forgejo shows it cancelled.
      if (result == runner::v1::RESULT_FAILURE && m_cancel.requested()) result = runner::v1::RESULT_CANCELLED;
      m_reporter.step_finished(e["index"].get<std::size_t>(), result);
    } else if (type == "log" || type == "engine_log") {
      m_reporter.log(step_of(e.value("prefix", "")), e.value("text", ""));
    } else if (type.starts_with("engine_") && type != "engine_progress") {
      // An akbuild step's state, one line as `akbuild act` prints it.
      std::string state = type.substr(7), text = e.value("text", "");
      std::string line = state == "started"    ? "cache miss: running"
                         : state == "finished" ? (text == "hit" ? "cache hit" : "ran")
                                               : state + (text.empty() ? "" : ": " + text);
      m_reporter.log(step_of(e.value("prefix", "")), line);
    } else if (type == "job_finished") {
      if (e.contains("outputs") && e["outputs"].is_object())
        for (const auto& [k, v] : e["outputs"].items()) m_outputs[k] = v.is_string() ? v.get<std::string>() : v.dump();
      m_reporter.log(std::nullopt, "job " + e.value("result", ""));
    } else if (type == "error") {
      m_reporter.log(std::nullopt, "Error: " + e.value("text", ""));
    }
  }

  std::map<std::string, std::string> outputs() const { return m_outputs; }

private:
  std::optional<std::size_t> step_of(const std::string& prefix) const {
    std::optional<std::size_t> found;
    std::size_t best = 0;
    for (const auto& [p, index] : m_prefixes)
      if ((prefix == p || prefix.starts_with(p + "/")) && p.size() >= best) {
        best = p.size();
        found = index;
      }
    return found;
  }

  TaskReporter& m_reporter;
  const exec::CancelToken& m_cancel;
  std::map<std::string, std::size_t> m_prefixes;
  std::map<std::string, std::string> m_outputs;
};

// A string key of the context, trying forgejo_<key> then gitea_<key> for the server's own ones.
std::string context_string(const Value& context, const std::string& key) {
  for (const std::string& k : {key, "forgejo_" + key, "gitea_" + key})
    if (context.contains(k) && context[k].is_string()) return context[k].get<std::string>();
  return "";
}

// git with the task's token as an HTTP header from the environment (GIT_CONFIG_*), never argv.
Result<> git(const std::vector<std::string>& args, const fs::path& cwd, const std::string& token,
             TaskReporter& reporter) {
  exec::ProcessSpec spec;
  spec.argv = {"git"};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.cwd = cwd;
  spec.env = {{"PATH", "/usr/local/bin:/usr/bin:/bin"}, {"HOME", cwd.string()}, {"GIT_TERMINAL_PROMPT", "0"}};
  if (!token.empty())
    spec.env.insert({{"GIT_CONFIG_COUNT", "1"}, {"GIT_CONFIG_KEY_0", "http.extraHeader"},
                     {"GIT_CONFIG_VALUE_0", "Authorization: token " + token}});
  auto r = exec::run_process(spec, [&](const exec::LogLine& l) { reporter.log(std::nullopt, l.text); });
  if (!r) return fail(r.error());
  if (!r->success()) return fail(ErrorCode::step_failed, "git " + args.front() + ": " + r->describe());
  return ok();
}

// The repository of the task at its sha, into `workspace` (what actions/checkout would do).
Result<> checkout(const Value& context, const std::string& token, const fs::path& workspace, TaskReporter& reporter) {
  std::string server = context_string(context, "server_url"), repo = context_string(context, "repository"),
              sha = context_string(context, "sha");
  if (server.empty() || repo.empty() || sha.empty())
    return fail(ErrorCode::invalid_argument, "the task's context lacks server_url, repository or sha to check out");
  while (server.ends_with('/')) server.pop_back();
  reporter.log(std::nullopt, "checking out " + repo + " at " + sha);
  AK_TRY_VOID(git({"init", "-q", "."}, workspace, token, reporter));
  AK_TRY_VOID(git({"fetch", "-q", "--depth=1", server + "/" + repo, sha}, workspace, token, reporter));
  return git({"checkout", "-q", "FETCH_HEAD"}, workspace, token, reporter);
}

} // namespace

Result<PayloadJob> payload_job(std::string_view payload) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(payload));
  } catch (const YAML::Exception& e) {
    return fail(ErrorCode::invalid_argument, "task payload: " + std::string(e.what()));
  }
  if (!root.IsMap() || !root["jobs"] || !root["jobs"].IsMap() || root["jobs"].size() != 1)
    return fail(ErrorCode::invalid_argument, "task payload: a workflow with exactly one job is expected");
  PayloadJob out;
  auto job = root["jobs"].begin();
  out.job_id = job->first.as<std::string>();
  YAML::Node body = job->second;
  if (!body.IsMap()) return fail(ErrorCode::invalid_argument, "task payload: job '" + out.job_id + "' is not a mapping");
  body.remove("needs");
  if (body["steps"] && body["steps"].IsSequence()) {
    out.steps = body["steps"].size();
    for (const auto& s : body["steps"])
      if (s.IsMap() && s["uses"] && s["uses"].IsScalar() &&
          s["uses"].Scalar().find("actions/checkout@") != std::string::npos)
        out.uses_checkout = true;
  }
  YAML::Emitter emitter;
  emitter << root;
  out.yaml = emitter.c_str();
  out.yaml += "\n";
  return out;
}

runner::v1::Result run_task(const RunnerClient& client, const runner::v1::Task& task, const TaskRunOptions& options,
                            const exec::CancelToken& stop) {
  auto parsed = payload_job(task.workflow_payload());
  exec::CancelToken cancel;
  cancel.follow(&stop);
  cancel.request_at(std::chrono::steady_clock::now() + options.timeout);
  ReporterOptions report = options.report;
  report.on_cancel = [&cancel] { cancel.request(); };
  TaskReporter reporter(client, task.id(), parsed ? parsed->steps : 0, report);
  reporter.start();
  auto finish = [&](runner::v1::Result result, const std::map<std::string, std::string>& outputs) {
    if (auto r = reporter.close(result, outputs); !r)
      reporter.log(std::nullopt, r.error().message);  // nothing more can be sent; the server's zombie check ends it
    return result;
  };
  for (const auto& [k, v] : task.secrets()) add_secret(v);
  if (!parsed) {
    reporter.log(std::nullopt, parsed.error().message);
    return finish(runner::v1::RESULT_FAILURE, {});
  }

  Value context = Value::object();
  if (task.has_context()) {
    std::string json;
    if (google::protobuf::util::MessageToJsonString(task.context(), &json).ok())
      context = Value::parse(json, nullptr, false);
    if (!context.is_object()) context = Value::object();
  }
  for (const char* key : {"token", "forgejo_runtime_token", "gitea_runtime_token"})
    if (auto v = context_string(context, key); !v.empty()) add_secret(v);
  std::string token;
  for (const char* name : {"FORGEJO_TOKEN", "GITEA_TOKEN", "GITHUB_TOKEN"})
    if (auto it = task.secrets().find(name); token.empty() && it != task.secrets().end()) token = it->second;

  auto dir = TempDir::create("task-" + std::to_string(task.id()) + "-", options.work_parent);
  if (!dir) {
    reporter.log(std::nullopt, dir.error().message);
    return finish(runner::v1::RESULT_FAILURE, {});
  }
  fs::path workspace = dir->path() / "workspace";
  fs::path workflow_file = dir->path() / "workflow.yml";
  if (auto r = make_dirs(workspace).and_then([&] { return write_file(workflow_file, parsed->yaml, 0600); }); !r) {
    reporter.log(std::nullopt, r.error().message);
    return finish(runner::v1::RESULT_FAILURE, {});
  }

  if (parsed->uses_checkout)
    if (auto r = checkout(context, token, workspace, reporter); !r) {
      reporter.log(std::nullopt, "checkout failed: " + r.error().message);
      return finish(runner::v1::RESULT_FAILURE, {});
    }

  workflow::ActOptions act;
  act.workspace = workspace;
  act.workflows = workflow_file.string();
  act.job = parsed->job_id;
  act.event = context_string(context, "event_name");
  if (context.contains("event") && context["event"].is_object()) {
    fs::path event_file = dir->path() / "event.json";
    if (write_file(event_file, workflow::to_json_text(context["event"]), 0600)) act.event_file = event_file.string();
  }
  act.github = context;
  act.github.erase("event");
  act.github["workspace"] = workspace.string();
  for (const auto& [k, v] : task.secrets()) act.secrets[k] = v;
  for (const auto& [k, v] : task.vars()) act.vars[k] = v;
  for (const auto& [id, need] : task.needs()) {
    Value outputs = Value::object();
    for (const auto& [k, v] : need.outputs()) outputs[k] = v;
    act.needs[id] = {{"result", std::string(result_name(need.result()))}, {"outputs", outputs}};
  }
  act.env = options.envs;
  if (auto url = context_string(context, "default_actions_url"); !url.empty()) act.env["AKBUILD_DEFAULT_ACTIONS_URL"] = url;
  act.cache_dir = options.cache_dir;
  act.open_engine = options.open_engine;
  act.cancel = &cancel;
  EventRelay relay(reporter, cancel);
  act.on_event = [&](const Value& e) { relay(e); };

  std::ostringstream ignored;
  auto status = workflow::run_act(act, ignored);
  if (!status) reporter.log(std::nullopt, "Error: " + status.error().message);
  runner::v1::Result result = cancel.requested() ? runner::v1::RESULT_CANCELLED
                              : status && *status == 0 ? runner::v1::RESULT_SUCCESS
                                                       : runner::v1::RESULT_FAILURE;
  return finish(result, relay.outputs());
}

} // namespace akbuild::forgejo
