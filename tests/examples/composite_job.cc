#include "tests/examples/composite_job.hh"

#include <cstdlib>
#include <regex>
#include <stdexcept>

#include <yaml-cpp/yaml.h>

#include "runner/workflow/env_files.hh"
#include "runner/workflow/expr/expression.hh"
#include "runner/workflow/workflow.hh"
#include "tests/support/test_support.hh"

namespace akbuild::test {

namespace fs = std::filesystem;
using workflow::EvalContext;
using workflow::Value;

namespace {

template <class T>
T must(Result<T> r, const std::string& what) {
  if (!r) throw std::runtime_error(what + ": " + r.error().message);
  return std::move(*r);
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}
std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// act's envKey for an input: INPUT_ + the name upper-cased, [^A-Z0-9-] replaced by '_'.
std::string input_env_key(const std::string& name) {
  static const std::regex other("[^A-Z0-9-]");
  return "INPUT_" + std::regex_replace(upper(name), other, "_");
}

struct Runner {
  fs::path workspace, action_dir, runner_temp;
  std::map<std::string, std::string> job_env;  // the caller's env plus what GITHUB_ENV added
  Value github;
  JobRun result;
  int files = 0;

  std::map<std::string, std::string> step_env(const std::string& action, const std::string& action_path) {
    auto env = job_env;
    auto set = [&](const std::string& k, const std::string& v) {
      env["GITHUB_" + k] = v;
      env["FORGEJO_" + k] = v;
    };
    env["CI"] = "true";
    env["RUNNER_TEMP"] = runner_temp.string();
    set("WORKSPACE", workspace.string());
    set("RUN_ID", github["run_id"].get<std::string>());
    set("RUN_ATTEMPT", github["run_attempt"].get<std::string>());
    set("JOB", github["job"].get<std::string>());
    set("EVENT_NAME", "push");
    set("ACTIONS", "true");
    set("ACTION", action);
    set("ACTION_PATH", action_path);
    return env;
  }

  EvalContext context(const std::string& action, const Value& steps, const Value& inputs) {
    EvalContext ctx;
    ctx.workspace = workspace;
    ctx.contexts["github"] = github;
    ctx.contexts["github"]["action"] = action;
    ctx.contexts["env"] = Value(job_env);
    ctx.contexts["steps"] = steps;
    ctx.contexts["inputs"] = inputs;
    ctx.contexts["runner"] = {{"temp", runner_temp.string()}, {"os", "Linux"}};
    return ctx;
  }

  // One run: step; its outputs from GITHUB_OUTPUT, and GITHUB_ENV added to the job's env.
  bool run_script(const std::string& script, std::map<std::string, std::string> env, const fs::path& cwd,
                  std::map<std::string, std::string>& outputs) {
    auto n = std::to_string(++files);
    auto file = runner_temp / ("script-" + n + ".sh"), out = runner_temp / ("output-" + n),
         envf = runner_temp / ("env-" + n);
    write(file, script);
    write(out, "");
    write(envf, "");
    env["GITHUB_OUTPUT"] = env["FORGEJO_OUTPUT"] = out.string();
    env["GITHUB_ENV"] = env["FORGEJO_ENV"] = envf.string();
    CommandOptions o;
    o.cwd = cwd;
    o.env = env;
    auto r = run({"bash", "--noprofile", "--norc", "-e", "-o", "pipefail", file.string()}, o);
    result.log += r.out + r.err;
    for (auto& [k, v] : must(workflow::parse_env_file(read(out), "GITHUB_OUTPUT"), "GITHUB_OUTPUT")) outputs[k] = v;
    for (auto& [k, v] : must(workflow::parse_env_file(read(envf), "GITHUB_ENV"), "GITHUB_ENV")) job_env[k] = v;
    return r.exit_code == 0;
  }

  // The akbuild/step composite for the workflow step `outer` (id `outer_id`).
  bool run_action(const workflow::WorkflowStep& outer, const std::string& outer_id, const Value& steps,
                  std::map<std::string, std::string>& outputs) {
    auto action = must(workflow::load_action(action_dir), "action.yml");
    auto yml = YAML::LoadFile((action_dir / "action.yml").string());
    auto outer_ctx = context(outer_id, steps, Value::object());
    std::map<std::string, std::string> input_env;
    Value inputs = Value::object();
    for (const auto& kv : yml["inputs"]) {
      auto name = kv.first.as<std::string>();
      auto key = input_env_key(name);
      std::string value;
      if (outer.with.contains(name))
        value = must(workflow::interpolate_string(outer.with[name].get<std::string>(), outer_ctx), "with." + name);
      else if (kv.second["default"])
        value = must(workflow::interpolate_string(kv.second["default"].as<std::string>(), outer_ctx), "default of " + name);
      input_env[key] = value;
      inputs[lower(key.substr(6))] = value;
    }
    Value inner_steps = Value::object();
    for (const auto& inner : action.steps) {
      auto inner_id = inner.id.empty() ? std::to_string(inner.index) : inner.id;
      auto ctx = context(inner_id, inner_steps, inputs);
      auto env = step_env(inner_id, action_dir.string());
      for (auto& [k, v] : input_env) env[k] = v;
      for (const auto& [k, v] : inner.env.items())
        env[k] = must(workflow::interpolate_string(v.get<std::string>(), ctx), "env." + k);
      auto cwd = inner.working_directory.empty()
                     ? workspace
                     : fs::path(must(workflow::interpolate_string(inner.working_directory, ctx), "working-directory"));
      std::map<std::string, std::string> inner_outputs;
      bool ok = run_script(must(workflow::interpolate_string(inner.run, ctx), "run"), env, cwd, inner_outputs);
      inner_steps[inner_id] = {{"outputs", Value(inner_outputs)}, {"outcome", ok ? "success" : "failure"}};
      if (!ok) return false;
    }
    auto ctx = context(outer_id, inner_steps, inputs);
    for (const auto& [name, value] : action.outputs)
      outputs[name] = must(workflow::interpolate_string(value, ctx), "output " + name);
    return true;
  }
};

} // namespace

std::map<std::string, std::string> runner_env(const fs::path& dir, const fs::path& cache) {
  const char* path = std::getenv("PATH");
  return {{"PATH", akbuild_bin().parent_path().string() + ":" + (source_root() / ".tools/node_modules/.bin").string() +
                       ":" + (path ? path : "/usr/bin:/bin")},
          {"AKBUILD_CACHE_DIR", cache.string()},
          {"AKBUILD_EXECUTOR", "none"},
          {"HOME", (dir / "home").string()}};
}

JobRun run_job_as_runner(const fs::path& workflow_file, const std::string& job_id, const fs::path& workspace,
                         const fs::path& action_dir, const fs::path& runner_temp,
                         const std::map<std::string, std::string>& env) {
  auto wf = must(workflow::load_workflow(workflow_file), workflow_file.string());
  const auto* job = wf.find_job(job_id);
  if (!job) throw std::runtime_error("no job " + job_id);
  fs::create_directories(runner_temp);
  Runner r{workspace, action_dir, runner_temp, env, {}, {}, 0};
  r.github = {{"workspace", workspace.string()}, {"run_id", "7"}, {"run_attempt", "1"}, {"job", job_id},
              {"event_name", "push"}, {"workflow", wf.name}};
  Value steps = Value::object();
  for (const auto& step : job->steps) {
    auto id = step.id.empty() ? std::to_string(step.index) : step.id;
    std::map<std::string, std::string> outputs;
    bool ok;
    if (!step.uses.empty()) {
      if (step.uses.rfind("akbuild/step@", 0) != 0) throw std::runtime_error("cannot run " + step.uses);
      ok = r.run_action(step, id, steps, outputs);
    } else {
      auto ctx = r.context(id, steps, Value::object());
      ok = r.run_script(must(workflow::interpolate_string(step.run, ctx), "run"), r.step_env(id, ""), workspace, outputs);
    }
    steps[id] = {{"outputs", Value(outputs)}, {"outcome", ok ? "success" : "failure"}};
    r.result.outputs[id] = outputs;
    if (!ok) return std::move(r.result);
  }
  r.result.ok = true;
  return std::move(r.result);
}

} // namespace akbuild::test
