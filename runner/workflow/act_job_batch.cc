// Consecutive akbuild steps of an act job, handed to the engine as one batch: planned in a dry
// run, run otherwise, with the engine's events rendered as the job's lines.
#include "runner/workflow/act_job_impl.hh"

namespace akbuild::workflow {

// Renders the engine's events of one batch as `[job/step]` lines (or JSON objects).
class ActJob::BatchSink final : public engine::EventSink {
public:
  BatchSink(ActJob& job, const std::map<std::string, std::string>& prefixes) : m_job(job), m_prefixes(prefixes) {}
  void on_event(const engine::Event& e) override {
    auto it = m_prefixes.find(e.step_id);
    std::string prefix = it != m_prefixes.end() ? it->second : m_job.m_label + "/" + e.step_id;
    if (m_job.m_run.out.json()) {
      if (e.type == engine::Event::Type::progress) return;
      Value fields(engine::to_json(e));  // converted, not dumped and re-parsed
      fields.erase("event");
      fields["job"] = m_job.m_label;
      m_job.m_run.out.event(std::string("engine_") + std::string(engine::to_string(e.type)), fields, prefix, e.text);
      return;
    }
    using T = engine::Event::Type;
    switch (e.type) {
    case T::log: m_job.m_run.out.line(prefix, e.text); break;
    case T::started: m_job.m_run.out.line(prefix, "cache miss: running"); break;
    case T::cached: m_job.m_run.out.line(prefix, "cache hit"); break;
    case T::failed: m_job.m_run.out.line(prefix, "failed: " + e.text); break;
    case T::skipped: m_job.m_run.out.line(prefix, "skipped: a dependency failed"); break;
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
    req.id = s->id.empty() ? m_job.id + "-" + std::to_string(s->index + 1) : s->id;
    std::string error;
    for (const auto& [k, v] : s->with.items()) {
      auto str = interpolate_string(v.get<std::string>(), ctx);
      if (!str) { error = "with." + k + ": " + str.error().message; break; }
      if (k == "kind") req.kind = *str;
      else req.with[k] = *str;
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
    if (!plan) return fail_all(plan.error());
    for (std::size_t i = 0; i < steps.size(); ++i) {
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
      r.outcome = Outcome::failure;
      if (res && res->error) m_run.out.line(prefixes[requests[i].id], res->error->message);
    }
    if (res)
      for (const auto& [k, v] : res->outputs) r.outputs[k] = v;
    record(scope, *steps[i], r, ctx, prefixes[requests[i].id]);
  }
}

} // namespace akbuild::workflow
