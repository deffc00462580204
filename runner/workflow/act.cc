#include "runner/workflow/act.hh"

#include <algorithm>
#include <future>
#include <optional>
#include <set>
#include <thread>

#include "runner/core/fs.hh"
#include "runner/core/log.hh"
#include "runner/exec/process.hh"
#include "runner/workflow/act_job.hh"
#include "runner/workflow/matrix.hh"

extern char** environ;

namespace akbuild::workflow {

namespace fs = std::filesystem;

namespace {

bool is_workflow_file(const fs::path& p) {
  auto ext = p.extension().string();
  return ext == ".yml" || ext == ".yaml";
}

std::string job_name(const Job& j) { return j.name.empty() ? j.id : j.name; }

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& i : items) {
    if (!out.empty()) out += sep;
    out += i;
  }
  return out;
}

// Whether git could find a repository for `dir`: $GIT_DIR is set, or `dir` or a directory above
// it holds a `.git`. Saves starting git where it can only answer "not a git repository".
bool in_git_checkout(const fs::path& dir, const std::map<std::string, std::string>& env) {
  if (env.contains("GIT_DIR")) return true;
  std::error_code ec;
  for (fs::path d = fs::absolute(dir, ec).lexically_normal(); !ec; d = d.parent_path()) {
    if (fs::exists(d / ".git", ec)) return true;
    if (d == d.root_path() || d.empty()) break;
  }
  return false;
}

// The lines of a command's stdout, or none when it cannot run or fails.
std::vector<std::string> command_lines(const std::vector<std::string>& argv, const fs::path& cwd,
                                       const std::map<std::string, std::string>& env) {
  exec::ProcessSpec spec;
  spec.argv = argv;
  spec.env = env;
  spec.cwd = cwd;
  std::vector<std::string> lines;
  auto r = exec::run_process(spec, [&](const exec::LogLine& l) {
    if (l.stream == exec::LogLine::Stream::out) lines.push_back(l.text);
  });
  return r && r->success() ? lines : std::vector<std::string>();
}

// The name a job combination shows in log prefixes. A name holding `${{ }}` is expanded with
// the combination's matrix; otherwise the matrix values follow it, "build (linux, 1.21)", as
// Forgejo and GitHub name matrix jobs.
std::string combination_name(const Job& job, const Value& matrix, bool has_matrix, EvalContext ctx) {
  if (job.name.find("${{") != std::string::npos) {
    ctx.contexts["matrix"] = matrix;
    if (auto name = interpolate_string(job.name, ctx)) return *name;
  }
  return has_matrix ? job_name(job) + " (" + matrix_label(matrix) + ")" : job_name(job);
}

// --step: the one job (of all workflows, or -j's) holding a step with that id becomes -j, and
// its workflow the only one; invalid_argument when no job or several hold it.
Result<> choose_step(ActOptions& options, std::vector<Workflow>& workflows) {
  std::vector<std::pair<std::size_t, std::string>> holders;  // workflow index, job id
  std::vector<std::string> ids;
  for (std::size_t w = 0; w < workflows.size(); ++w)
    for (const auto& j : workflows[w].jobs) {
      if (!options.job.empty() && j.id != options.job) continue;
      for (const auto& s : j.steps) {
        if (s.id.empty()) continue;
        ids.push_back(j.id + "." + s.id);
        if (s.id == options.step) holders.emplace_back(w, j.id);
      }
    }
  if (holders.empty())
    return fail(ErrorCode::invalid_argument, "--step: no job has a step with id '" + options.step +
                                                 "'; the step ids are: " + (ids.empty() ? "(none)" : join(ids, ", ")));
  if (holders.size() > 1) {
    std::vector<std::string> where;
    for (const auto& [w, job] : holders) where.push_back(job + " (" + workflows[w].file.string() + ")");
    return fail(ErrorCode::invalid_argument, "--step: the step id '" + options.step + "' is in the jobs " +
                                                 join(where, ", ") + "; name one with -j (and -W)");
  }
  options.job = holders[0].second;
  Workflow only = std::move(workflows[holders[0].first]);
  workflows = {std::move(only)};
  return ok();
}

class ActRunner {
public:
  ActRunner(ActRun& run, std::vector<Workflow>& workflows, std::string event)
      : m_run(run), m_workflows(workflows), m_event(std::move(event)) {}

  int run() {
    bool failed = false;
    for (const auto& wf : m_workflows) {
      std::vector<std::string> only;
      if (!m_run.options.job.empty()) {
        if (!wf.find_job(m_run.options.job)) continue;
        only.push_back(m_run.options.job);
      }
      failed = !run_workflow(wf, only) || failed;
      if (m_run.usage_error()) return 2;
    }
    return failed ? 1 : 0;
  }

private:
  bool run_workflow(const Workflow& wf, const std::vector<std::string>& only) {
    Value base = m_run.contexts;
    base["github"]["event_name"] = m_event;
    base["github"]["workflow"] = wf.name;
    apply_event_contexts(wf, base);
    // Every declared input is given, its default or "" (booleans as booleans), as act does.
    if (m_event == "workflow_dispatch") base["inputs"] = dispatch_inputs(wf, base["inputs"]);
    auto [ok, states] = run_jobs(wf, only, base, "");
    // act's last word on a failed run, which scripts grep for: the first failed job in stage
    // order, or the first that failed with an error act ends the run with (with that error).
    if (ok) return ok;
    std::optional<std::string> failed;
    for (const auto& stage : job_stages(wf, only))
      for (const auto& id : stage) {
        const JobOutcome& s = states[id];
        if (s.result != Outcome::failure && s.result != Outcome::cancelled) continue;
        if (!failed || (!s.error.empty() && states[*failed].error.empty())) failed = id;
      }
    if (failed) {
      const std::string& error = states[*failed].error;
      m_run.out.error("Job '" + job_name(*wf.find_job(*failed)) + "' failed" + (error.empty() ? "" : ": " + error));
    }
    return ok;
  }

  // The jobs of `wf` in `needs` order with the contexts `base`; `prefix` goes before their labels
  // (the calling job's, for a reusable workflow). Whether none failed, and each job's outcome.
  std::pair<bool, std::map<std::string, JobOutcome>> run_jobs(const Workflow& wf, const std::vector<std::string>& only,
                                                              const Value& base, const std::string& prefix) {
    std::map<std::string, JobOutcome> states;
    bool ok = true;
    for (const auto& stage : job_stages(wf, only)) {
      std::vector<std::future<std::pair<std::string, JobOutcome>>> running;
      for (const auto& id : stage) {
        const Job& job = *wf.find_job(id);
        Value needs = m_run.options.needs;
        bool needs_failed = false;
        for (const auto& [n, given] : needs.items())
          needs_failed = needs_failed || !given.contains("result") || given["result"] != "success";
        for (const auto& n : job.needs) {
          needs[n] = {{"result", to_string(states[n].result)}, {"outputs", states[n].outputs}};
          needs_failed = needs_failed || states[n].result != Outcome::success;
        }
        running.push_back(std::async(std::launch::async, [this, &wf, &job, needs, needs_failed, &base, &prefix] {
          return std::make_pair(job.id, run_job_all(wf, job, needs, needs_failed, base, prefix));
        }));
      }
      for (auto& f : running) {
        auto [id, state] = f.get();
        const Job& job = *wf.find_job(id);
        bool failed = state.result == Outcome::failure || state.result == Outcome::cancelled;
        if (failed && !truthy(job.continue_on_error)) ok = false;
        states[id] = std::move(state);
      }
    }
    return {ok, std::move(states)};
  }

  // A job that calls a local reusable workflow, as act runs it: the callee's jobs with the
  // caller's github context (event_name included), `inputs` from `with:` over the declared
  // workflow_call defaults, `secrets` as given (or all of the caller's with `inherit`), and the
  // declared outputs evaluated over the `jobs` context. A remote one (owner/repo/path@ref) is
  // cloned into the cache as remote actions are, a dry run too.
  JobOutcome run_reusable(const Job& job, const EvalContext& ctx, const Value& base, const std::string& label) {
    fs::path file = m_run.options.workspace / job.uses.substr(std::min<std::size_t>(2, job.uses.size()));
    if (!job.uses.starts_with("./")) {
      auto fetched = m_run.fetch_remote(job.uses);
      if (!fetched) {
        m_run.out.line(label, "'" + job.uses + "' is not runnable locally: " + fetched.error().message);
        return {Outcome::failure, Value::object()};
      }
      file = *fetched;
    }
    auto loaded = load_workflow(file);
    if (!loaded) {
      m_run.out.line(label, "'" + job.uses + "': " + loaded.error().message);
      return {Outcome::failure, Value::object()};
    }
    const Workflow& callee = *loaded;
    const Value* call = callee.on.is_object() && callee.on.contains("workflow_call") ? &callee.on["workflow_call"] : nullptr;
    auto declared = [&](const char* what) {
      return call && call->is_object() && call->contains(what) && (*call)[what].is_object() ? (*call)[what] : Value::object();
    };
    Value called = base;
    called["inputs"] = Value::object();
    EvalContext inner;
    inner.contexts = base;
    inner.workspace = ctx.workspace;
    const Value inputs = declared("inputs"), outputs = declared("outputs");
    for (const auto& [name, spec] : inputs.items()) {
      Result<Value> v = Value();
      if (job.with.contains(name)) v = interpolate_value(job.with[name], ctx);
      else if (spec.is_object() && spec.contains("default")) v = interpolate_value(spec["default"], inner);
      if (!v) {
        m_run.out.line(label, "with." + name + ": " + v.error().message);
        return {Outcome::failure, Value::object()};
      }
      called["inputs"][name] = *v;
    }
    if (job.secrets.is_string()) {
      called["secrets"] = base["secrets"];  // inherit
    } else {
      called["secrets"] = Value::object();
      for (const auto& [k, v] : job.secrets.items())
        called["secrets"][k] = v.is_string() ? Value(interpolate_string(v.get<std::string>(), ctx).value_or("")) : v;
    }
    auto [ok, states] = run_jobs(callee, {}, called, label + "/");
    JobOutcome outcome{ok ? Outcome::success : Outcome::failure, Value::object()};
    EvalContext out_ctx;
    out_ctx.contexts = called;
    out_ctx.contexts["jobs"] = Value::object();
    for (const auto& [id, state] : states)
      out_ctx.contexts["jobs"][id] = {{"result", to_string(state.result)}, {"outputs", state.outputs}};
    for (const auto& [name, spec] : outputs.items())
      if (spec.is_object() && spec.contains("value") && spec["value"].is_string())
        outcome.outputs[name] = interpolate_string(spec["value"].get<std::string>(), out_ctx).value_or("");
    return outcome;
  }

  // What the event adds to the contexts, as act does: the head and base refs of a pull request,
  // and the declared inputs of workflow_dispatch and workflow_call with their defaults (a
  // boolean input is true only as `true`).
  static void apply_event_contexts(const Workflow& wf, Value& base) {
    const std::string event = base["github"]["event_name"].get<std::string>();
    const Value& payload = base["github"]["event"];
    if (event == "pull_request" || event == "pull_request_target") {
      auto ref = [&](const char* side) {
        const Value* v = &payload;
        for (const char* k : {"pull_request", side, "ref"}) {
          if (!v->is_object() || !v->contains(k)) return std::string();
          v = &(*v)[k];
        }
        return v->is_string() ? v->get<std::string>() : std::string();
      };
      base["github"]["head_ref"] = ref("head");
      base["github"]["base_ref"] = ref("base");
    }
    if (event != "workflow_dispatch" && event != "workflow_call") return;
    if (!wf.on.is_object() || !wf.on.contains(event) || !wf.on[event].is_object()) return;
    const Value& declared = wf.on[event].contains("inputs") ? wf.on[event]["inputs"] : Value();
    if (!declared.is_object()) return;
    for (const auto& [name, spec] : declared.items()) {
      Value v;
      if (payload.is_object() && payload.contains("inputs") && payload["inputs"].contains(name))
        v = payload["inputs"][name];
      else if (base["inputs"].contains(name))
        v = base["inputs"][name];
      else if (spec.is_object() && spec.contains("default"))
        v = spec["default"];
      if (spec.is_object() && spec.contains("type") && spec["type"] == "boolean")
        v = v == Value(true) || v == Value("true");
      base["inputs"][name] = v;
    }
  }

  // One job with every matrix combination; `needs_failed` makes success() false for its `if:`.
  JobOutcome run_job_all(const Workflow& wf, const Job& job, const Value& needs, bool needs_failed, const Value& base,
                         const std::string& prefix) {
    ActRun& run = m_run;
    EvalContext ctx;
    ctx.contexts = base;
    ctx.contexts["needs"] = needs;
    // The workflow's and the job's env, as act gives a job's `if:`.
    ctx.contexts["env"] = Value::object();
    for (const Value* src : {&wf.env, &job.env})
      for (const auto& [k, v] : src->items())
        ctx.contexts["env"][k] = interpolate_string(v.get<std::string>(), ctx).value_or(v.get<std::string>());
    ctx.contexts["env"]["ACT"] = "true";
    ctx.status.failed = needs_failed;
    ctx.workspace = run.options.workspace;
    std::string label = prefix + combination_name(job, Value(), false, ctx);
    auto go = evaluate_condition(job.condition, ctx);
    if (!go) {
      run.out.line(label, "if: " + go.error().message);
      return {Outcome::failure, Value::object()};
    }
    if (!*go) {
      run.out.event("job_finished", {{"job", label}, {"result", "skipped"}}, label, "job skipped");
      return {Outcome::skipped, Value::object()};
    }
    if (!job.uses.empty()) return run_reusable(job, ctx, base, label);
    auto matrix_value = interpolate_value(job.strategy.matrix, ctx);
    if (!matrix_value && run.out.dry_run()) {
      // A matrix made from earlier jobs' outputs, which a dry run does not have.
      run.out.line(label, "strategy.matrix cannot be known in a dry run: " + matrix_value.error().message);
      return {Outcome::success, Value::object()};
    }
    if (!matrix_value) {
      run.set_usage_error(matrix_value.error().context("job '" + job.id + "'"));
      return {Outcome::failure, Value::object()};
    }
    auto combos = expand_matrix(*matrix_value);
    if (!combos) {
      run.set_usage_error(combos.error().context(wf.file.string() + ": job '" + job.id + "'"));
      return {Outcome::failure, Value::object()};
    }
    bool has_matrix = !matrix_value->is_null();
    std::vector<Value> selected = filter_matrix(*combos, run.options.matrix);
    bool fail_fast = truthy(interpolate_value(job.strategy.fail_fast, ctx).value_or(Value(true)));
    std::size_t max_parallel = selected.size();
    if (auto mp = interpolate_value(job.strategy.max_parallel, ctx); mp && mp->is_number() && mp->get<double>() >= 1)
      max_parallel = static_cast<std::size_t>(mp->get<double>());
    JobOutcome state;
    if (selected.empty()) {
      // act plans no run for an empty product (a matrix dimension an earlier job left empty).
      run.out.event("job_finished", {{"job", label}, {"result", "success"}}, label,
                    "no matrix combinations: the job has no runs");
      return state;
    }
    std::atomic<bool> stop{false};
    for (std::size_t start = 0; start < selected.size(); start += max_parallel) {
      std::vector<std::future<JobOutcome>> batch;
      for (std::size_t i = start; i < std::min(selected.size(), start + max_parallel); ++i) {
        std::string name = prefix + combination_name(job, selected[i], has_matrix && !selected[i].empty(), ctx);
        Value strategy = {{"fail-fast", fail_fast}, {"job-index", i}, {"job-total", selected.size()},
                          {"max-parallel", max_parallel}};
        batch.push_back(std::async(std::launch::async, [&run, &wf, &job, &base, combo = selected[i], needs, strategy, name, &stop] {
          if (stop.load()) {
            run.out.event("job_finished", {{"job", name}, {"result", "cancelled"}}, name, "job cancelled (fail-fast)");
            return JobOutcome{Outcome::cancelled, Value::object()};
          }
          return run_job(run, wf, job, base, combo, needs, strategy, name);
        }));
      }
      for (auto& f : batch) {
        JobOutcome o = f.get();
        if (state.error.empty()) state.error = o.error;
        if (o.result == Outcome::failure || o.result == Outcome::cancelled) {
          state.result = Outcome::failure;
          if (fail_fast) stop = true;
        }
        for (const auto& [k, v] : o.outputs.items()) state.outputs[k] = v;
      }
    }
    return state;
  }

  ActRun& m_run;
  std::vector<Workflow>& m_workflows;
  std::string m_event;
};

} // namespace

Result<std::vector<fs::path>> find_workflow_files(const ActOptions& options) {
  std::vector<fs::path> candidates;
  if (!options.workflows.empty()) {
    fs::path p = options.workflows;
    candidates.push_back(p.is_absolute() ? p : options.workspace / p);
  } else {
    candidates = {options.workspace / ".forgejo/workflows", options.workspace / ".github/workflows"};
  }
  std::error_code ec;
  for (const auto& c : candidates) {
    if (fs::is_regular_file(c, ec)) return std::vector<fs::path>{c};
    if (!fs::is_directory(c, ec)) continue;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(c, ec))
      if (e.is_regular_file() && is_workflow_file(e.path())) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    if (!files.empty()) return files;
    if (!options.workflows.empty())
      return fail(ErrorCode::invalid_argument, c.string() + ": no workflow files (*.yml, *.yaml)");
  }
  if (!options.workflows.empty()) return fail(ErrorCode::invalid_argument, candidates[0].string() + ": no such file or directory");
  return fail(ErrorCode::invalid_argument, "no workflows in " + candidates[0].string() + " or " + candidates[1].string() +
                                               " (use -W PATH)");
}

std::string list_table(const std::vector<Workflow>& workflows) {
  std::vector<std::vector<std::string>> rows{{"Stage", "Job ID", "Job name", "Workflow name", "Workflow file", "Events"}};
  std::map<std::string, int> ids;
  for (const auto& wf : workflows) {
    auto stages = job_stages(wf);
    for (std::size_t s = 0; s < stages.size(); ++s)
      for (const auto& id : stages[s]) {
        const Job& j = *wf.find_job(id);
        rows.push_back({std::to_string(s), id, job_name(j), wf.name, wf.file.filename().string(), join(wf.events, ",")});
        ++ids[id];
      }
  }
  std::vector<std::size_t> width(6, 0);
  for (const auto& r : rows)
    for (std::size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size() + 2);
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t c = 0; c < r.size(); ++c) line += r[c] + std::string(width[c] - r[c].size(), ' ');
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  for (const auto& [id, n] : ids)
    if (n > 1) {
      out += "\nDetected multiple jobs with the same job name, use `-W` to specify the path to the specific workflow.\n";
      break;
    }
  return out;
}

std::string list_json(const std::vector<Workflow>& workflows) {
  std::string out;
  for (const auto& wf : workflows) {
    auto stages = job_stages(wf);
    for (std::size_t s = 0; s < stages.size(); ++s)
      for (const auto& id : stages[s]) {
        const Job& j = *wf.find_job(id);
        Value row = {{"stage", s}, {"job_id", id}, {"job_name", job_name(j)}, {"workflow_name", wf.name},
                     {"workflow_file", wf.file.filename().string()}, {"workflow_path", wf.file.string()},
                     {"events", wf.events}, {"needs", j.needs}, {"uses", j.uses}};
        out += to_json_text(row) + "\n";
      }
  }
  return out;
}

std::string default_event(const std::vector<Workflow>& workflows) {
  std::set<std::string> events;
  for (const auto& wf : workflows) events.insert(wf.events.begin(), wf.events.end());
  return events.size() == 1 ? *events.begin() : "push";
}

bool triggered_by(const Workflow& wf, std::string_view event) {
  return std::find(wf.events.begin(), wf.events.end(), event) != wf.events.end();
}

Value dispatch_inputs(const Workflow& wf, const Value& given) {
  Value inputs = given.is_object() ? given : Value::object();
  if (!wf.on.is_object() || !wf.on.contains("workflow_dispatch")) return inputs;
  const Value& trigger = wf.on["workflow_dispatch"];
  if (!trigger.is_object() || !trigger.contains("inputs") || !trigger["inputs"].is_object()) return inputs;
  for (const auto& [name, spec] : trigger["inputs"].items()) {
    Value value = given.is_object() && given.contains(name) ? given[name] : Value(nullptr);
    if (value.is_null() && spec.is_object() && spec.contains("default") && !spec["default"].is_null())
      value = to_display_string(spec["default"]);
    if (value.is_null()) value = "";
    bool boolean = spec.is_object() && spec.contains("type") && spec["type"] == "boolean";
    inputs[name] = boolean ? Value(value == Value(true) || value == Value("true")) : value;
  }
  return inputs;
}

std::string stage_graph(const Workflow& wf) {
  std::string out;
  auto stages = job_stages(wf);
  for (std::size_t s = 0; s < stages.size(); ++s) {
    std::string top, mid, bottom;
    for (const auto& id : stages[s]) {
      std::string name = job_name(*wf.find_job(id));
      std::string bar;
      for (std::size_t i = 0; i < name.size() + 2; ++i) bar += "─";
      top += " ╭" + bar + "╮";
      mid += " │ " + name + " │";
      bottom += " ╰" + bar + "╯";
    }
    out += top + "\n" + mid + "\n" + bottom + "\n";
    if (s + 1 < stages.size()) out += "     ⬇\n";
  }
  return out;
}

Result<int> run_act(const ActOptions& given, std::ostream& out) {
  ActOptions options = given;
  auto files = AK_TRY(find_workflow_files(options));
  std::vector<Workflow> workflows;
  for (const auto& f : files) {
    auto text = AK_TRY(read_file(f));
    std::error_code ec;
    fs::path shown = fs::relative(f, options.workspace, ec);
    workflows.push_back(AK_TRY(parse_workflow(text, ec || shown.empty() ? f : shown)));
  }
  if (!options.step.empty()) AK_TRY_VOID(choose_step(options, workflows));
  if (!options.job.empty()) {
    bool found = false;
    std::vector<std::string> all;
    for (const auto& wf : workflows)
      for (const auto& j : wf.jobs) {
        all.push_back(j.id);
        found = found || j.id == options.job;
      }
    if (!found)
      return fail(ErrorCode::invalid_argument, "unknown job '" + options.job + "'; the workflows have: " + join(all, ", "));
  }
  // As act: -j names a job in any workflow; otherwise the workflows the event triggers run, and
  // -l and -g show those of a named event, else all.
  std::string event_name = options.event.empty() ? default_event(workflows) : options.event;
  auto chosen = [&](const Workflow& wf, bool showing) {
    if (!options.job.empty()) return wf.find_job(options.job) != nullptr;
    if (showing && options.event.empty()) return true;
    return triggered_by(wf, event_name);
  };
  if (options.list || options.graph) {
    std::vector<Workflow> shown;
    for (auto& wf : workflows)
      if (chosen(wf, true)) shown.push_back(wf);
    if (options.graph)
      for (const auto& wf : shown) out << stage_graph(wf);
    else out << (options.json ? list_json(shown) : list_table(shown));
    return 0;
  }
  std::vector<Workflow> triggered;
  std::set<std::string> events;
  for (auto& wf : workflows) {
    events.insert(wf.events.begin(), wf.events.end());
    if (chosen(wf, false)) triggered.push_back(std::move(wf));
  }
  if (triggered.empty())
    return fail(ErrorCode::invalid_argument, "no workflow runs on the event '" + event_name + "' (the workflows run on: " +
                                                 join({events.begin(), events.end()}, ", ") +
                                                 "); name one as `akbuild act EVENT`, or a job with -j");
  workflows = std::move(triggered);
  for (const auto& [k, v] : options.secrets) add_secret(v);

  ActOutput output(out, options.json, options.dry_run);
  if (options.on_event) output.set_sink(options.on_event);
  ActRun run(options, output);
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos) run.host_env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  auto temp = AK_TRY(TempDir::create("akbuild-act-"));
  run.temp_root = temp.path();

  Value event = Value::object();
  if (!options.event_file.empty()) {
    auto text = AK_TRY(read_file(options.event_file));
    event = AK_TRY(parse_json_value(text, options.event_file));
  } else if (!options.inputs.empty()) {
    event["inputs"] = Value::object();
    for (const auto& [k, v] : options.inputs) event["inputs"][k] = v;
  }
  // Scratch in the run's own temp dir: no need to sync it to disk.
  AK_TRY_VOID(write_file(run.temp_root / "event.json", to_json_text(event, 2)));

  // The checkout's sha and ref, unless given (a runner's task names them). Else the commit and
  // the branch in one git call (a detached HEAD names no branch: "HEAD"); only an unborn branch,
  // which has no commit, needs a second call for its name. No git at all outside a checkout.
  auto named = [&](const char* key) {
    return options.github.contains(key) && options.github[key].is_string() ? options.github[key].get<std::string>()
                                                                           : std::string();
  };
  std::string sha = named("sha"), ref = named("ref");
  if ((sha.empty() || ref.empty()) && in_git_checkout(options.workspace, run.host_env)) {
    auto head = command_lines({"git", "rev-parse", "HEAD", "--symbolic-full-name", "HEAD"}, options.workspace, run.host_env);
    std::string found_sha, found_ref;
    if (head.size() == 2) {
      found_sha = head[0];
      if (head[1] != "HEAD") found_ref = head[1];
    } else if (auto branch = command_lines({"git", "symbolic-ref", "-q", "HEAD"}, options.workspace, run.host_env);
               !branch.empty()) {
      found_ref = branch[0];
    }
    if (sha.empty()) sha = found_sha;
    if (ref.empty()) ref = found_ref;
  }
  if (sha.empty()) sha = std::string(40, '0');
  if (ref.empty()) ref = "refs/heads/main";
  std::string repo = "local/" + fs::absolute(options.workspace).lexically_normal().filename().string();
  Value github = {{"event", event}, {"sha", sha}, {"ref", ref}, {"ref_name", ref.substr(ref.rfind('/') + 1)},
                  {"ref_type", "branch"}, {"repository", repo}, {"repository_owner", "local"},
                  {"actor", "nektos/act"}, {"workspace", options.workspace.string()}, {"run_id", "1"},
                  {"run_number", "1"}, {"run_attempt", "1"}, {"server_url", "http://localhost"},
                  {"api_url", "http://localhost/api/v1"}, {"token", ""}, {"action", ""}, {"retention_days", "0"}};
  for (const auto& [k, v] : options.github.items()) github[k] = v;
  Value inputs = event.contains("inputs") && event["inputs"].is_object() ? event["inputs"] : Value::object();
  for (const auto& [k, v] : options.inputs) inputs[k] = v;
  Value vars = Value::object(), secrets = Value::object(), env = Value::object();
  for (const auto& [k, v] : options.vars) vars[k] = v;
  for (const auto& [k, v] : options.secrets) secrets[k] = v;
  run.contexts = {{"github", github}, {"vars", vars}, {"secrets", secrets}, {"inputs", inputs},
                  {"runner", {{"os", "Linux"}, {"arch", "X64"}, {"name", "akbuild"},
                              {"temp", (run.temp_root / "tmp").string()},
                              {"tool_cache", (run.temp_root / "tool-cache").string()}}},
                  {"jobs", Value::object()}};
  for (const auto& [k, v] : options.env) run.host_env[k] = v;

  ActRunner runner(run, workflows, event_name);
  int status = runner.run();
  if (auto e = run.usage_error()) return fail(*e);
  return status;
}

} // namespace akbuild::workflow
