// Consecutive akbuild steps of an act job, handed to the engine as one batch: planned in a dry
// run, run otherwise, with the engine's events rendered as the job's lines.
#include "runner/workflow/act_job_impl.hh"

#include <cstdlib>
#include <string_view>

#include <fmt/format.h>

#include "runner/core/secrets.hh"
#include "steps/action_yml.hh"

namespace akbuild::workflow {

// Renders the engine's events of one batch as `[job/step]` lines (or JSON objects).
class ActJob::BatchSink final : public engine::EventSink {
public:
  BatchSink(ActJob& job, const std::map<std::string, std::string>& prefixes) : m_job(job), m_prefixes(prefixes) {}
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
        m_job.m_run.out.line(prefix, fmt::format("{} in {:.2f} s",
                                                      text == "hit"          ? "cache hit"
                                                      : text == "remote hit" ? "remote cache hit"
                                                                             : "ran",
                                                      ms / 1000));
      }
      break;
    case S::failed: m_job.m_run.out.line(prefix, "failed: " + text); break;
    case S::skipped: m_job.m_run.out.line(prefix, "skipped: a dependency failed"); break;
    default: break;
    }
  }

private:
  ActJob& m_job;
  const std::map<std::string, std::string>& m_prefixes;
};

void ActJob::run_akbuild_batch(const std::vector<const WorkflowStep*>& batch, Scope& scope) {
  EvalContext ctx = contexts(scope);
  std::vector<engine::StepRequest> requests;
  std::vector<const WorkflowStep*> steps;
  std::map<std::string, std::string> prefixes;
  for (const WorkflowStep* s : batch) {
    std::string prefix = step_prefix(scope, *s, ctx);
    engine::StepRequest req;
    req.pin_command = m_run.options.pin_command;
    req.id = s->id.empty() ? m_job.id + "-" + std::to_string(s->index + 1) : s->id;
    std::string error;
    for (const auto& [k, v] : s->with.items()) {
      auto str = interpolate_string(v.get<std::string>(), ctx);
      if (!str) { error = "with." + k + ": " + str.error().message; break; }
      if (k == "kind") req.kind = *str;
      else if (k == "id") req.id = str->empty() ? req.id : *str;
      else if (k == "mask") add_secret_lines(*str);  // one value per line
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
      record(scope, *s, {Outcome::failure, Value::object()}, ctx, prefix);
      continue;
    }
    prefixes[req.id] = prefix;
    requests.push_back(std::move(req));
    steps.push_back(s);
  }
  if (requests.empty()) return;
  if (m_run.out.dry_run() && m_run.options.collect) {
    m_run.options.collect(m_job.id, m_label, requests);
    for (std::size_t i = 0; i < steps.size(); ++i)
      record(scope, *steps[i], {Outcome::success, Value::object()}, ctx, prefixes[requests[i].id]);
    return;
  }
  auto fail_all = [&](const Error& e) {
    if (e.code == ErrorCode::invalid_argument) {
      m_run.set_usage_error(e.context(m_label));
      return;
    }
    for (std::size_t i = 0; i < steps.size(); ++i) {
      m_run.out.line(prefixes[requests[i].id], e.message);
      record(scope, *steps[i], {Outcome::failure, Value::object()}, ctx, prefixes[requests[i].id]);
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
        record(scope, *steps[i], {i == failed_at ? Outcome::failure : Outcome::skipped, Value::object()}, ctx, prefix);
        continue;
      }
      const engine::PlannedStep* p = nullptr;
      for (const auto& ps : *plan)
        if (ps.id == requests[i].id) p = &ps;
      const std::string& prefix = prefixes[requests[i].id];
      StepOutcome r;
      if (!p) {
        r.outcome = Outcome::failure;
        m_run.out.line(prefix, "the engine did not plan this step");
      } else {
        Value fields = {{"step", prefix.substr(prefix.find('/') + 1)}, {"type", "akbuild"}, {"id", p->id},
                        {"kind", p->kind}, {"key", p->key}, {"hit", p->hit}, {"remote_hit", p->remote_hit}};
        if (m_run.options.explain) fields["explain"] = p->explain;
        event("step_plan", fields, prefix,
              "akbuild " + p->kind + ": key " + p->key + " " + (p->remote_hit ? "remote hit" : p->hit ? "hit" : "miss: would run"));
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
      r.outcome = Outcome::failure;
      if (res && res->error) m_run.out.line(prefixes[requests[i].id], res->error->message);
    }
    if (res)
      for (const auto& [k, v] : res->outputs) r.outputs[k] = v;
    record(scope, *steps[i], r, ctx, prefixes[requests[i].id]);
  }
}

} // namespace akbuild::workflow
