#include "runner/engine/engine.hh"

#include <thread>

#include "runner/cas/cache_dir.hh"
#include "runner/core/beneath.hh"
#include "runner/engine/explain.hh"
#include "runner/engine/pins.hh"
#include "runner/engine/planner.hh"
#include "runner/engine/present_outputs.hh"
#include "runner/engine/remote_steps.hh"
#include "runner/engine/scheduler.hh"
#include "runner/engine/step_execution.hh"
#include "runner/remote/remote_cache.hh"
#include "steps/registry.hh"

namespace akbuild::engine {

namespace fs = std::filesystem;

namespace {

class EngineImpl final : public Engine {
public:
  EngineImpl(EngineOptions options, std::unique_ptr<cas::CacheDir> cache, std::unique_ptr<remote::RemoteCache> remote)
      : m_options(std::move(options)), m_cache(std::move(cache)), m_platform(current_platform()),
        m_present(m_options.watcher) {
    if (remote) m_remote = std::make_unique<RemoteSteps>(std::move(remote), *m_cache);
  }

  const EngineOptions& options() const override { return m_options; }

  Result<std::vector<PlannedStep>> plan(const std::vector<StepRequest>& requests) override {
    auto steps = AK_TRY(prepare(requests));
    std::vector<PlannedStep> out(steps.size());
    std::vector<std::optional<cas::ActionRecord>> cached(steps.size());
    std::vector<bool> known(steps.size(), false);
    // Deps first: a step's key needs the output trees of its deps, known only when they hit.
    auto order = topological(steps);
    for (auto i : order) {
      auto& s = steps[i];
      auto& p = out[i];
      p.id = s.request.id;
      p.kind = s.request.kind;
      std::vector<const cas::ActionRecord*> dep_results;
      std::vector<const PreparedStep*> dep_steps;
      std::string unknown_dep;
      for (auto d : s.deps) {
        if (!known[d]) { unknown_dep = steps[d].request.id; break; }
        dep_results.push_back(&*cached[d]);
        dep_steps.push_back(&steps[d]);
      }
      if (!unknown_dep.empty()) {
        p.explain = {"depends on '" + unknown_dep + "', which will run first"};
        continue;
      }
      if (s.plan.fetch && s.pin.empty()) {
        p.explain = {"a fetch step without a pin: run `" +
                     (s.request.pin_command.empty() ? std::string("akbuild pin update") : s.request.pin_command) +
                     " --id " + s.request.id + "`"};
        continue;
      }
      auto keyed = AK_TRY(key_step(s, dep_results, dep_steps, *m_cache, m_options.workspace, m_platform));
      p.key = keyed.key.hex();
      auto got = m_cache->actions().get(keyed.key, s.plan.outputs);
      std::optional<cas::ActionRecord> remote_got;
      if (!(got && *got) && m_remote) remote_got = m_remote->probe(s, keyed.key);
      if (got && *got) {
        p.hit = true;
        cached[i] = **got;
        known[i] = true;
      } else if (remote_got) {
        p.hit = p.remote_hit = true;
        cached[i] = std::move(*remote_got);
        known[i] = true;
      } else if (m_options.explain) {
        auto last = m_cache->actions().last_manifest(s.request.id);
        p.explain = explain_diff(last ? *last : std::nullopt, keyed.manifest);
      }
      p.manifest = std::move(keyed.manifest);
    }
    return out;
  }

  Result<std::vector<StepResult>> run(const std::vector<StepRequest>& requests, EventSink& events,
                                      const exec::CancelToken* cancel) override {
    auto steps = AK_TRY(prepare(requests));
    std::vector<StepRun> runs(steps.size());
    std::vector<std::vector<std::size_t>> deps;
    for (const auto& s : steps) deps.push_back(s.deps);
    RunEnv env{*m_cache, m_options, m_options.workspace, m_platform, events, cancel, m_locks, &m_present, m_remote.get()};

    std::mutex progress_mutex;
    Progress counts{.total = static_cast<std::uint32_t>(steps.size())};
    auto progress = [&] { events.on_event(Event{counts}); };
    {
      std::lock_guard lock(progress_mutex);
      progress();
    }
    DagCallbacks callbacks;
    callbacks.run = [&](std::size_t i) {
      {
        std::lock_guard lock(progress_mutex);
        ++counts.running;
        progress();
      }
      std::vector<const cas::ActionRecord*> dep_results;
      std::vector<const PreparedStep*> dep_steps;
      for (auto d : steps[i].deps) {
        dep_results.push_back(&*runs[d].action);
        dep_steps.push_back(&steps[d]);
      }
      runs[i] = execute_step(env, steps[i], dep_results, dep_steps);
      std::lock_guard lock(progress_mutex);
      --counts.running;
      ++counts.done;
      if (runs[i].result.cache_hit) ++counts.cached;
      progress();
      return runs[i].result.success;
    };
    callbacks.skip = [&](std::size_t i, std::size_t because) {
      auto& r = runs[i].result;
      r.id = steps[i].request.id;
      r.kind = steps[i].request.kind;
      r.skipped = true;
      std::string why = because == i ? "cancelled" : "dependency '" + steps[because].request.id + "' failed";
      events.on_event(Event{StateChange{r.id, StepState::skipped, why, {}}});
      std::lock_guard lock(progress_mutex);
      ++counts.done;
      progress();
    };
    run_dag(deps, m_options.jobs, callbacks, cancel);
    if (m_remote) m_remote->flush_stats();
    std::vector<StepResult> out;
    for (auto& r : runs) out.push_back(std::move(r.result));
    return out;
  }

private:
  // The steps validated and planned by their kinds. A confined client's workspace files
  // (akbuild.lock, a kind's go.mod or lockfile) are read beneath the workspace, never through a
  // symlink the job put there.
  Result<std::vector<PreparedStep>> prepare(const std::vector<StepRequest>& requests) const {
    std::optional<ReadsBeneath> reads;
    if (m_options.confined) reads.emplace(m_options.workspace);
    auto pins = AK_TRY(PinFile::load(m_options.workspace));
    return prepare_steps(requests, m_options.workspace, pins, m_platform, m_options.kinds, m_options.confined);
  }

  static std::vector<std::size_t> topological(const std::vector<PreparedStep>& steps) {
    std::vector<std::size_t> order;
    std::vector<bool> seen(steps.size(), false);
    std::function<void(std::size_t)> visit = [&](std::size_t i) {
      if (seen[i]) return;
      seen[i] = true;
      for (auto d : steps[i].deps) visit(d);
      order.push_back(i);
    };
    for (std::size_t i = 0; i < steps.size(); ++i) visit(i);
    return order;
  }

  EngineOptions m_options;
  std::unique_ptr<cas::CacheDir> m_cache;
  std::string m_platform;
  KeyLocks m_locks;
  PresentOutputs m_present;
  std::unique_ptr<RemoteSteps> m_remote;
};

} // namespace

Result<std::unique_ptr<Engine>> Engine::open(EngineOptions options) {
  std::error_code ec;
  if (options.workspace.empty()) options.workspace = fs::current_path(ec);
  auto ws = options.pinned_workspace ? options.workspace : fs::canonical(options.workspace, ec);
  if (ec || !fs::is_directory(ws))
    return fail(ErrorCode::invalid_argument, "workspace " + options.workspace.string() + ": not a directory");
  options.workspace = ws;
  if (options.jobs == 0) options.jobs = std::max(1u, std::thread::hardware_concurrency());
  if (options.kinds.empty()) options.kinds = steps::all_kinds();
  std::unique_ptr<remote::RemoteCache> remote;
  if (!options.remote_cache.empty()) {
    remote::RemoteOptions ro;
    ro.url = options.remote_cache;
    ro.token = options.remote_token;
    ro.read_only = options.remote_read_only;
    remote = AK_TRY(remote::open_remote_cache(std::move(ro)));
  }
  auto cache = AK_TRY(cas::CacheDir::open(options.cache_dir));
  clean_stale_runs(*cache);
  return std::unique_ptr<Engine>(new EngineImpl(std::move(options), std::move(cache), std::move(remote)));
}

} // namespace akbuild::engine
