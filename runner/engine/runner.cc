#include "runner/engine/runner.hh"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>

#include <fcntl.h>

#include "nixdrv/nar_hash.hh"
#include "runner/cas/cache_dir.hh"
#include "runner/cas/tree.hh"
#include "runner/core/beneath.hh"
#include "runner/core/encoding.hh"
#include "runner/core/fs.hh"
#include "runner/core/hash.hh"
#include "runner/core/log.hh"
#include "runner/engine/explain.hh"
#include "runner/engine/manifest.hh"
#include "runner/engine/materialize.hh"
#include "runner/engine/secret_lines.hh"
#include "runner/exec/sandbox.hh"

namespace akbuild::engine {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// Whether this run computes the step's pin (akbuild pin update) rather than checks it: a fetch
// step pinned by its own `hash:` is checked against it, like in any build.
bool updating_pin(const RunEnv& env, const PreparedStep& step) {
  return step.plan.fetch && env.options.update_pins && step.plan.pin.empty();
}

std::set<std::string> file_outputs(const v1::ActionResult& a) {
  std::set<std::string> out;
  auto it = a.values().find(k_file_outputs_value);
  if (it == a.values().end()) return out;
  std::istringstream in(it->second);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.insert(line);
  return out;
}

// Whether `path` is `dir` or lies below it (relative paths, '/').
bool within(std::string_view path, std::string_view dir) {
  return path == dir || (path.size() > dir.size() && path.starts_with(dir) && path[dir.size()] == '/');
}

void emit(RunEnv& env, Event::Type type, const std::string& id, std::string text = {},
          std::map<std::string, std::string> values = {}, std::string stream = {}) {
  Event e;
  e.type = type;
  e.step_id = id;
  e.text = std::move(text);
  e.values = std::move(values);
  e.stream = std::move(stream);
  env.events.on_event(e);
}

void log(RunEnv& env, const std::string& id, const std::string& line) {
  emit(env, Event::Type::log, id, mask_secrets(line), {}, "akbuild");
}

class StepRunContext final : public steps::RunContext {
public:
  // The command's stdout and stderr go to `out_log` and `err_log` (created here), not memory: a
  // step may print gigabytes.
  StepRunContext(RunEnv& env, const PreparedStep& step, const KeyedStep& keyed,
                 std::vector<const v1::ActionResult*> dep_results, fs::path input_root, fs::path output_root,
                 bool network, UniqueFd out_log, UniqueFd err_log)
      : m_env(env), m_step(step), m_keyed(keyed), m_dep_results(std::move(dep_results)),
        m_input_root(std::move(input_root)), m_output_root(std::move(output_root)), m_network(network),
        m_deadline(Clock::now() + (step.request.timeout.count() > 0 ? step.request.timeout
                                                                    : std::chrono::milliseconds(k_default_step_timeout))),
        m_out_log(std::move(out_log)), m_err_log(std::move(err_log)) {}

  const std::string& step_id() const override { return m_step.request.id; }
  const fs::path& input_root() const override { return m_input_root; }
  const fs::path& output_root() const override { return m_output_root; }
  const fs::path& workspace() const override { return m_env.workspace; }
  cas::CacheDir& cache() override { return m_env.cache; }
  const exec::CancelToken* cancel() const override { return m_env.cancel; }

  Result<fs::path> tool(std::string_view name) const override {
    auto it = m_keyed.tools.find(std::string(name));
    if (it == m_keyed.tools.end())
      return fail(ErrorCode::internal, "step '" + m_step.request.id + "': tool '" + std::string(name) +
                                           "' was not declared in its plan");
    return it->second.path;
  }

  void log(std::string_view line) override { engine::log(m_env, m_step.request.id, std::string(line)); }

  std::optional<std::string> content_digest(std::string_view rel_in) const override {
    std::string rel = strip_trailing_slashes(std::string(rel_in));
    auto under = [](const std::string& path, const std::string& dir) {
      return dir.empty() || path == dir || (path.size() > dir.size() && path.starts_with(dir) && path[dir.size()] == '/');
    };
    // A dep output staged at exactly `rel` is its tree; one overlapping `rel` otherwise mixes.
    std::optional<std::string> dep_tree;
    for (const auto* result : m_dep_results)
      for (const auto& [out, hex] : result->outputs()) {
        std::string o = strip_trailing_slashes(out);
        if (o == rel) dep_tree = "tree:" + hex;
        else if (under(o, rel) || under(rel, o)) return std::nullopt;
      }
    if (dep_tree) {
      for (const auto& f : m_keyed.inputs)
        if (under(f.path, rel)) return std::nullopt;
      return dep_tree;
    }
    // Each input's path below `rel` (an empty directory's too), type, permission bits (a layer's tar records them) and
    // content or target, in one buffer hashed once. The digests are from keying time: a file
    // changed since then is staged in its new form, so the caller must read the content instead.
    std::string lines;
    for (const auto& f : m_keyed.inputs) {
      if (!under(f.path, rel)) continue;
      if (input_change(m_env.workspace, f)) return std::nullopt;
      lines.append(std::string_view(f.path).substr(rel.empty() ? 0 : std::min(f.path.size(), rel.size() + 1)));
      lines.append(1, '\0').append(f.type == FileType::directory ? "d"
                                    : f.type == FileType::symlink ? "l"
                                    : f.executable                ? "x"
                                                                  : "f");
      lines.append(1, '\0').append(std::to_string(f.permissions));
      lines.append(1, '\0').append(f.type == FileType::symlink ? f.target : f.digest).append(1, '\n');
    }
    if (lines.empty()) return std::nullopt;
    return "inputs:" + to_hex(sha256(lines));
  }

  Result<exec::ProcessResult> run(const std::vector<std::string>& argv,
                                  const std::map<std::string, std::string>& extra_env,
                                  const std::string& working_directory) override {
    if (argv.empty()) return fail(ErrorCode::internal, "step '" + m_step.request.id + "': empty command");
    exec::SandboxSpec sandbox;
    sandbox.input_root = m_input_root;
    sandbox.input_dirs = m_input_dirs;
    sandbox.output_root = m_output_root;
    sandbox.outputs = m_step.plan.outputs;
    sandbox.network = m_network;
    sandbox.mode = m_env.options.sandbox;
    sandbox.working_directory = working_directory;
    std::set<fs::path> binds;
    for (const auto& [name, t] : m_keyed.tools) {
      binds.insert(t.path.parent_path());
      binds.insert(t.real_path.parent_path());
      // An npm package's dependencies are its siblings: the whole node_modules tree it is in.
      if (!t.node_modules.empty()) binds.insert(t.node_modules);
    }
    sandbox.ro_binds.assign(binds.begin(), binds.end());
    exec::ProcessSpec spec;
    spec.argv = argv;
    // The declared tool is the one keyed: run it by its resolved path.
    if (auto it = m_keyed.tools.find(argv[0]); it != m_keyed.tools.end()) spec.argv[0] = it->second.path.string();
    spec.env = m_step.plan.env;
    for (const auto& [k, v] : extra_env) spec.env[k] = v;
    spec.env.try_emplace("PATH", sandbox_path(m_keyed.tools));
    // The kind's limit for each command, within what is left of the step's.
    auto left = std::max(std::chrono::duration_cast<std::chrono::milliseconds>(m_deadline - Clock::now()),
                         std::chrono::milliseconds(1));
    std::chrono::milliseconds own = std::chrono::seconds(m_step.plan.timeout_seconds);
    spec.timeout = own.count() > 0 ? std::min(own, left) : left;
    auto on_line = [this](const exec::LogLine& l) {
      // A command may register a value to mask, as on GitHub's runner; the command line itself
      // holds the value and is not logged.
      if (auto value = parse_add_mask(l.text)) {
        add_secret(std::move(*value));
        return;
      }
      auto text = mask_secrets(l.text);
      {
        std::lock_guard lock(m_mutex);
        int fd = (l.stream == exec::LogLine::Stream::out ? m_out_log : m_err_log).get();
        if (!m_log_error) {
          if (auto w = write_all(fd, as_bytes(text + "\n")); !w) m_log_error = w.error();
        }
      }
      Event e;
      e.type = Event::Type::log;
      e.step_id = m_step.request.id;
      e.stream = l.stream == exec::LogLine::Stream::out ? "stdout" : "stderr";
      e.text = std::move(text);
      e.time = l.time;
      m_env.events.on_event(e);
    };
    auto r = exec::run_sandboxed(sandbox, std::move(spec), on_line, m_env.cancel);
    if (!r) return fail(r.error().context("step '" + m_step.request.id + "'"));
    if (!r->sandboxed && !r->fallback_reason.empty() && m_env.options.sandbox == exec::SandboxMode::automatic) {
      static std::atomic<bool> warned{false};
      if (!warned.exchange(true)) log("warning: running without a sandbox: " + r->fallback_reason);
    }
    m_exit_code = r->process.exit_code;
    if (!r->process.success())
      return fail(r->process.cancelled ? ErrorCode::cancelled : ErrorCode::step_failed,
                  "command '" + argv[0] + "' failed: " + r->process.describe());
    return r->process;
  }

  // Whole input directories bound over their (empty) place in the input root.
  void bind_input_dirs(std::vector<std::pair<std::string, fs::path>> dirs) { m_input_dirs = std::move(dirs); }
  // The first error writing the logs, if any.
  std::optional<Error> log_error() { std::lock_guard l(m_mutex); return m_log_error; }
  int exit_code() const { return m_exit_code; }

private:
  RunEnv& m_env;
  const PreparedStep& m_step;
  const KeyedStep& m_keyed;
  std::vector<const v1::ActionResult*> m_dep_results;
  fs::path m_input_root, m_output_root;
  std::vector<std::pair<std::string, fs::path>> m_input_dirs;
  bool m_network;
  Clock::time_point m_deadline;
  std::mutex m_mutex;
  UniqueFd m_out_log, m_err_log;
  std::optional<Error> m_log_error;
  int m_exit_code = 0;
};

// The stored result for `key` with every output blob present and intact (re-hashed only where
// its intact mark is gone: once, here, not again when it is linked out); nullopt on a miss. A
// corrupt entry is evicted and reported, and counts as a miss.
// Outputs found in the workspace already, exactly as stored, go into `present`: their blobs are
// not checked (the files are those blobs, still marked, or hash like them) and are not written.
Result<std::optional<v1::ActionResult>> lookup(RunEnv& env, const PreparedStep& step, const cas::Digest& key,
                                               std::set<std::string>& present) {
  auto got = env.cache.actions().get(key, step.plan.outputs);
  if (!got) {
    if (got.error().code != ErrorCode::corrupt) return fail(got.error());
    log(env, step.request.id, "cache entry for " + step.request.id + " was corrupt (" + got.error().message +
                                  "); re-running");
    return std::optional<v1::ActionResult>{};
  }
  if (!*got) return std::optional<v1::ActionResult>{};
  auto files = file_outputs(**got);
  present.clear();
  for (const auto& [out, hex] : (*got)->outputs()) {
    auto d = cas::Digest::parse(hex);
    if (d) {
      auto here = output_present(env.cache, *d, files.count(out) > 0, env.workspace, out);
      if (here && *here) {
        present.insert(out);
        continue;
      }
    }
    Result<cas::TreeStats> verified = d ? cas::check_tree(env.cache.blobs(), *d)
                                        : Result<cas::TreeStats>(fail(d.error()));
    if (!verified) {
      (void)env.cache.actions().remove(key);
      log(env, step.request.id, "cache entry for " + step.request.id + " was corrupt (" +
                                    verified.error().message + "); re-running");
      return std::optional<v1::ActionResult>{};
    }
  }
  return got;
}

Result<> materialize_all(RunEnv& env, const v1::ActionResult& action, const std::set<std::string>& present = {}) {
  auto files = file_outputs(action);
  for (const auto& [out, hex] : action.outputs()) {
    if (present.count(out)) continue;
    auto d = AK_TRY(cas::Digest::parse(hex));
    AK_TRY_VOID(materialize_output(env.cache, d, files.count(out) > 0, env.workspace, out));
  }
  return ok();
}

// Lists which files differ between two sets of output trees (for a pin mismatch).
std::vector<std::string> diff_outputs(RunEnv& env, const v1::ActionResult& before,
                                      const std::map<std::string, std::string>& after) {
  std::vector<std::string> lines;
  for (const auto& [out, hex] : after) {
    auto it = before.outputs().find(out);
    if (it == before.outputs().end()) { lines.push_back("  + " + out); continue; }
    auto a = cas::Digest::parse(it->second), b = cas::Digest::parse(hex);
    if (!a || !b) continue;
    auto la = cas::list_tree(env.cache.blobs(), *a), lb = cas::list_tree(env.cache.blobs(), *b);
    if (!la || !lb) continue;
    // Captured by an init-capture: clang before 16 cannot capture a structured binding.
    auto name = [&, &dir = out](const std::string& p) { return strip_trailing_slashes(dir) + (p.empty() ? "" : "/" + p); };
    for (const auto& [p, f] : *lb) {
      auto o = la->find(p);
      if (o == la->end()) lines.push_back("  added: " + name(p));
      else if (o->second.type != f.type || o->second.digest != f.digest || o->second.target != f.target)
        lines.push_back("  changed: " + name(p));
    }
    for (const auto& [p, f] : *la)
      if (!lb->count(p)) lines.push_back("  removed: " + name(p));
  }
  if (lines.size() > 50) {
    auto n = lines.size();
    lines.resize(50);
    lines.push_back("  ... and " + std::to_string(n - 50) + " more");
  }
  return lines;
}

// The whole input directories a sandbox binds read-only instead of staging their files one
// link at a time: only for kinds that run commands, under bubblewrap (a plain run would reach
// the workspace through them), never one holding or inside an output of the step or of a
// dependency (those are mounted or staged at their place), and only one reached beneath the
// workspace without a symlink.
Result<std::vector<std::pair<std::string, fs::path>>> bindable_input_dirs(
    RunEnv& env, const PreparedStep& step, const KeyedStep& keyed,
    const std::vector<const v1::ActionResult*>& dep_results) {
  std::vector<std::pair<std::string, fs::path>> dirs;
  // A kind that reads its inputs in-process (oci-image) reads the input root itself.
  if (keyed.whole_dirs.empty() || !step.plan.sandboxed || env.options.sandbox == exec::SandboxMode::off ||
      !exec::sandbox_available())
    return dirs;
  std::vector<std::string> placed;
  for (const auto& o : step.plan.outputs) placed.push_back(strip_trailing_slashes(o));
  for (const auto* r : dep_results)
    for (const auto& [o, hex] : r->outputs()) placed.push_back(strip_trailing_slashes(o));
  for (const auto& d : keyed.whole_dirs) {
    if (std::any_of(placed.begin(), placed.end(), [&](const auto& o) { return within(o, d) || within(d, o); }))
      continue;
    if (!open_dir_beneath(env.workspace, d, false)) continue;
    dirs.emplace_back(d, env.workspace / d);
  }
  return dirs;
}

struct Miss {
  v1::ActionResult action;
  std::map<std::string, std::string> values;
};

Result<Miss> run_miss(RunEnv& env, const PreparedStep& step, const KeyedStep& keyed,
                      const std::vector<const v1::ActionResult*>& dep_results,
                      const std::vector<const PreparedStep*>& dep_steps) {
  const auto& id = step.request.id;
  auto started = std::chrono::system_clock::now();
  auto t0 = Clock::now();
  AK_TRY_VOID(make_dirs(env.cache.tmp_dir()));
  auto tmp = AK_TRY(TempDir::create("run-", env.cache.tmp_dir()));
  // Held while the run lives, so clean_stale_runs leaves this dir alone.
  auto held = AK_TRY(FileLock::acquire(tmp.path() / "lock"));
  fs::path in = tmp.path() / "in", out = tmp.path() / "out";
  AK_TRY_VOID(make_dirs(in));
  AK_TRY_VOID(make_dirs(out));
  auto input_dirs = AK_TRY(bindable_input_dirs(env, step, keyed, dep_results));
  std::map<std::string, fs::path> files;
  for (const auto& f : keyed.inputs)
    if (std::none_of(input_dirs.begin(), input_dirs.end(), [&](const auto& d) { return within(f.path, d.first); }))
      files.emplace(f.path, env.workspace / f.path);
  AK_TRY_VOID(exec::stage_inputs(in, files));
  for (const auto& [rel, host] : input_dirs) AK_TRY_VOID(open_dir_beneath(in, rel, true));
  for (std::size_t i = 0; i < dep_results.size(); ++i) {
    auto dep_files = file_outputs(*dep_results[i]);
    for (const auto& [o, hex] : dep_results[i]->outputs()) {
      auto d = AK_TRY(cas::Digest::parse(hex));
      // Whatever was staged at o is swapped out, never written through. A kind that reads its
      // inputs in-process (an image layer records modes) gets copies with the modes a tree
      // stands for, not read-only links.
      auto staged = materialize_output(env.cache, d, dep_files.count(o) > 0, in, o, step.plan.sandboxed);
      if (!staged) return fail(staged.error().context("step '" + id + "': staging outputs of '" +
                                                      dep_steps[i]->request.id + "'"));
    }
  }

  emit(env, Event::Type::started, id, {}, {{"key", keyed.key}});
  bool network = step.plan.fetch && (!step.pin.empty() || updating_pin(env, step));
  fs::path out_log = tmp.path() / "stdout", err_log = tmp.path() / "stderr";
  StepRunContext ctx(env, step, keyed, dep_results, in, out, network,
                     AK_TRY(open_fd(out_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)),
                     AK_TRY(open_fd(err_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)));
  ctx.bind_input_dirs(std::move(input_dirs));
  auto outcome = step.step->run(*step.params, ctx);
  if (!outcome) return fail(outcome.error());

  Miss miss;
  auto& a = miss.action;
  for (const auto& o : step.plan.outputs) {
    struct stat st {};
    if (::lstat((out / strip_trailing_slashes(o)).c_str(), &st) != 0)
      return fail(ErrorCode::step_failed, "step '" + id + "': output '" + o + "' was not produced");
  }
  // A fetch step's NAR hash is read before its files move into the cache.
  std::string sri;
  if (step.plan.fetch) {
    fs::path pinned = step.plan.outputs.size() == 1 ? out / strip_trailing_slashes(step.plan.outputs[0]) : out;
    auto got = nixdrv::nar_hash(pinned);
    if (!got) return fail(got.error().context("step '" + id + "': NAR hash of the outputs"));
    sri = got->to_sri();
  }
  std::string file_list;
  std::map<std::string, std::string> trees;
  for (const auto& o : step.plan.outputs) {
    auto p = out / strip_trailing_slashes(o);
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0)
      return fail(ErrorCode::step_failed, "step '" + id + "': output '" + o + "' was not produced");
    // Moved, not copied: the run dir is thrown away, and a hit links the same blobs back out.
    auto d = cas::store_tree(env.cache.blobs(), p, nullptr, cas::StoreMode::move);
    if (!d) return fail(d.error().context("step '" + id + "': output '" + o + "'"));
    trees[o] = d->hex();
    if (!S_ISDIR(st.st_mode)) file_list += o + "\n";
  }
  for (const auto& [k, v] : outcome->values) a.mutable_values()->insert({k, v});
  if (!file_list.empty()) (*a.mutable_values())[k_file_outputs_value] = file_list;
  for (const auto& [o, d] : trees) (*a.mutable_outputs())[o] = d;

  std::string key = keyed.key, manifest = keyed.manifest;
  if (step.plan.fetch) {
    a.set_nar_hash(sri);
    miss.values["nar-hash"] = sri;
    if (updating_pin(env, step)) {
      manifest = AK_TRY(key_secret_lines(fetch_manifest(step, env.platform, sri), env.cache.root()));
      key = Manifest::key_of(manifest);
    } else if (sri != step.pin) {
      std::string msg = "step '" + id + "': hash mismatch in fetch output:\n  specified: " + step.pin +
                        "\n  got:       " + sri;
      auto last = env.cache.actions().last_manifest(id);
      if (last && *last) {
        auto k = cas::Digest::parse(Manifest::key_of(**last));
        auto before = k ? env.cache.actions().get(*k, step.plan.outputs)
                        : Result<std::optional<v1::ActionResult>>(std::nullopt);
        if (before && *before) {
          auto lines = diff_outputs(env, **before, trees);
          if (!lines.empty()) msg += "\nfiles that differ from the last output of '" + id + "':";
          for (const auto& l : lines) msg += "\n" + l;
        }
      }
      return fail(ErrorCode::failed_precondition, msg);
    }
  }
  if (auto e = ctx.log_error()) return fail(e->context("step '" + id + "': writing its log"));
  auto out_blob = AK_TRY(env.cache.blobs().put_file(out_log));
  auto err_blob = AK_TRY(env.cache.blobs().put_file(err_log));
  a.set_key(key);
  a.set_exit_code(ctx.exit_code());
  a.set_stdout_digest(out_blob.hex());
  a.set_stderr_digest(err_blob.hex());
  a.set_started_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(started.time_since_epoch()).count());
  a.set_duration_ms(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
  a.set_step_id(id);
  a.set_kind(step.request.kind);
  // An input that changed since it was keyed (an editor saving, or the step writing it through
  // its staged link) may have entered the outputs in its new form: such a result is used this
  // once, never cached under the old key.
  if (auto changed = changed_input(env.workspace, keyed.inputs)) {
    log(env, id, "warning: input " + *changed + " while the step ran; its result is not cached");
    return miss;
  }
  // Every blob is stored and durable (one sync for all of them); only now does the result
  // become visible.
  AK_TRY_VOID(env.cache.blobs().sync());
  AK_TRY_VOID(env.cache.actions().put(AK_TRY(cas::Digest::parse(key)), a));
  AK_TRY_VOID(env.cache.actions().set_last_manifest(id, manifest));
  return miss;
}

void fill_outputs(StepResult& r, const PreparedStep& step, const v1::ActionResult& a) {
  r.outputs["cache-hit"] = r.cache_hit ? "true" : "false";
  r.outputs["key"] = r.key;
  std::string paths;
  for (const auto& o : step.plan.outputs) paths += (paths.empty() ? "" : "\n") + strip_trailing_slashes(o);
  if (!paths.empty()) r.outputs["path"] = paths;
  for (const auto& [k, v] : a.values())
    if (k.rfind("_akbuild", 0) != 0) r.outputs[k] = v;
  if (!a.nar_hash().empty()) r.outputs["nar-hash"] = a.nar_hash();
}

} // namespace

StepRun execute_step(RunEnv& env, const PreparedStep& step, const std::vector<const v1::ActionResult*>& dep_results,
                     const std::vector<const PreparedStep*>& dep_steps) {
  auto t0 = Clock::now();
  const auto& id = step.request.id;
  StepRun run;
  auto& r = run.result;
  r.id = id;
  r.kind = step.request.kind;
  auto failed = [&](Error e) -> StepRun& {
    e.message = mask_secrets(e.message);
    r.success = false;
    r.error = e;
    r.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
    emit(env, Event::Type::failed, id, e.message, {{"code", std::string(to_string(e.code))}});
    emit(env, Event::Type::finished, id, "failed", {{"success", "false"}});
    return run;
  };
  auto done = [&](const v1::ActionResult& a, bool hit) -> StepRun& {
    r.success = true;
    r.cache_hit = hit;
    fill_outputs(r, step, a);
    run.action = a;
    r.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
    auto values = r.outputs;
    values["success"] = "true";
    values["duration_ms"] = std::to_string(r.duration.count());
    if (hit) emit(env, Event::Type::cached, id, {}, {{"key", r.key}});
    emit(env, Event::Type::finished, id, hit ? "hit" : "ran", std::move(values));
    return run;
  };

  if (step.plan.fetch && step.pin.empty() && !env.options.update_pins)
    return failed(Error{ErrorCode::failed_precondition,
                        "step '" + id + "' is a fetch step without a pin: run `akbuild pin update --id " + id +
                            "` to compute it (or give `hash:`)"});
  auto keyed = key_step(step, dep_results, dep_steps, env.cache, env.workspace, env.platform);
  if (!keyed) return failed(keyed.error());
  r.key = keyed->key;
  auto key = cas::Digest::parse(keyed->key);
  if (!key) return failed(key.error());

  bool force = updating_pin(env, step);
  std::set<std::string> present;
  auto finish_hit = [&](const v1::ActionResult& a) -> StepRun& {
    if (auto m = materialize_all(env, a, present); !m)
      return failed(m.error().context("step '" + id + "': materializing"));
    return done(a, true);
  };
  if (!force) {
    auto hit = lookup(env, step, *key, present);
    if (!hit) return failed(hit.error());
    if (*hit) {
      emit(env, Event::Type::planned, id, "hit", {{"key", r.key}});
      return finish_hit(**hit);
    }
  }
  if (env.options.explain) {
    auto last = env.cache.actions().last_manifest(id);
    r.explain = explain_diff(last ? *last : std::nullopt, keyed->manifest);
  }
  std::string explain_text;
  for (const auto& l : r.explain) explain_text += (explain_text.empty() ? "" : "\n") + l;
  std::map<std::string, std::string> planned{{"key", r.key}};
  if (!explain_text.empty()) planned["explain"] = explain_text;
  emit(env, Event::Type::planned, id, "miss", std::move(planned));

  if (auto writable = env.cache.require_writable("run step '" + id + "' (a read-only cache dir serves hits only)");
      !writable)
    return failed(writable.error());
  // Identical actions in flight run once: one thread of this process, then one process.
  auto mutex = env.locks.get(keyed->key);
  std::lock_guard in_process(*mutex);
  auto lock = env.cache.lock_action(*key);
  if (!lock) return failed(lock.error());
  if (!force) {
    auto hit = lookup(env, step, *key, present);
    if (!hit) return failed(hit.error());
    if (*hit) return finish_hit(**hit);
  }
  auto miss = run_miss(env, step, *keyed, dep_results, dep_steps);
  if (!miss) return failed(miss.error());
  r.key = miss->action.key();
  if (auto m = materialize_all(env, miss->action); !m)
    return failed(m.error().context("step '" + id + "': materializing"));
  for (const auto& [k, v] : miss->values) r.outputs[k] = v;
  return done(miss->action, false);
}

void clean_stale_runs(cas::CacheDir& cache) {
  if (cache.read_only()) return;
  std::error_code ec;
  for (auto it = fs::directory_iterator(cache.tmp_dir(), ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    auto name = it->path().filename().string();
    if (name.rfind("run-", 0) != 0) continue;
    // A live run holds its lock; one we can take belongs to a process that is gone.
    // A fresh dir may not have taken its lock yet: only dirs untouched for a minute are looked at.
    auto age = fs::file_time_type::clock::now() - fs::last_write_time(it->path(), ec);
    if (ec || age < std::chrono::minutes(1)) continue;
    auto lock = FileLock::try_acquire(it->path() / "lock");
    if (lock && lock->held()) (void)remove_tree(it->path());
  }
}

} // namespace akbuild::engine
