#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "runner/cli/commands.hh"
#include "runner/cli/console_sink.hh"
#include "runner/cli/job_state.hh"
#include "runner/core/log.hh"
#include "runner/service/engine_factory.hh"
#include "steps/registry.hh"

namespace akbuild::cli {

namespace {

struct StepOptions : StepInvocation {
  RemoteFlags remote;
  bool explain = false;
  bool dry_run = false;
};

Result<int> run_step(const StepOptions& o, const GlobalOptions& global) {
  AK_TRY_VOID(steps::find_kind(o.kind));
  auto request = AK_TRY(step_request(o));
  request.pin_command = "akbuild pin update " + o.kind;
  if (!o.workspace.empty()) request.pin_command += " -C " + shell_word(o.workspace);
  for (const auto& w : o.with) request.pin_command += " --with " + shell_word(w);
  // Inside a runner's job, deps name earlier steps of the job, each run by its own process.
  auto job = JobState::from_environment();
  auto requests = job ? AK_TRY(job->with_deps(request)) : std::vector<engine::StepRequest>{request};
  // A job state that cannot be written costs the later steps' deps, not this step, which succeeded.
  auto record = [&] {
    if (!job) return 0;
    if (auto r = job->record(request); !r)
      log_warning("later steps of this job cannot name '{}' in deps: {}", request.id, r.error().message);
    return 0;
  };
  auto options = engine_options(o, global);
  options.explain = o.explain;
  AK_TRY_VOID(apply_remote_flags(o.remote, options));
  // The executor daemon when one answers (AKBUILD_EXECUTOR, else the default socket;
  // AKBUILD_EXECUTOR=none runs in-process), with the same events, output and exit status.
  auto engine = AK_TRY(service::open_engine(options));
  if (o.dry_run) {
    // Keys the step and says whether it would hit; runs nothing, stores nothing.
    auto planned = AK_TRY(engine->plan(requests));
    for (const auto& p : planned) {
      if (o.json) {
        nlohmann::json j{{"event", "planned"}, {"step", p.id}, {"text", p.remote_hit ? "remote hit" : p.hit ? "hit" : "miss"}, {"key", p.key}};
        if (!p.explain.empty()) j["explain"] = p.explain;
        std::cout << j.dump() << "\n";
        continue;
      }
      std::cout << "[" << p.id << "] " << (p.remote_hit ? "remote hit" : p.hit ? "hit" : "miss") << " (key " << p.key.substr(0, 12) << ")\n";
      if (o.explain)
        for (const auto& l : p.explain) std::cout << "[" << p.id << "] miss: " << l << "\n";
    }
    return 0;
  }
  ConsoleSink sink(ConsoleSink::pick(o.json), o.explain);
  auto results = engine->run(requests, sink);
  sink.close();
  if (!results) return fail(results.error());
  for (const auto& r : *results)
    if (!r.success) return 1;
  return record();
}

} // namespace

void add_step_command(CLI::App& app, GlobalOptions& options) {
  auto o = std::make_shared<StepOptions>();
  auto* cmd = app.add_subcommand("step", "run one typed step through the cache: akbuild step KIND --with K=V ...");
  std::string kinds;
  for (const auto* s : steps::all_kinds()) kinds += (kinds.empty() ? "" : ", ") + std::string(s->kind());
  cmd->add_option("kind", o->kind, "the step kind (" + kinds + ")")->required();
  add_step_invocation_options(cmd, *o);
  cmd->add_flag("--explain", o->explain, "on a miss, say which manifest lines changed since the last run");
  add_remote_options(cmd, o->remote);
  cmd->add_flag("-n,--dry-run", o->dry_run, "key the step and say whether it would hit; run nothing");
  cmd->callback([o, &options] {
    auto r = run_step(*o, options);
    options.exit_status = r ? *r : report_error(r.error());
  });
}

} // namespace akbuild::cli
