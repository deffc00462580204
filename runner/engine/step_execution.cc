#include "runner/engine/step_execution.hh"

#include <algorithm>
#include <future>
#include <mutex>
#include <optional>
#include <set>

#include <fcntl.h>

#include "nixdrv/nar_hash.hh"
#include "runner/cas/cache_dir.hh"
#include "runner/cas/tree.hh"
#include "runner/core/beneath.hh"
#include "runner/core/fs.hh"
#include "runner/core/secrets.hh"
#include "runner/engine/explain.hh"
#include "runner/engine/manifest.hh"
#include "runner/engine/materialize.hh"
#include "runner/engine/remote_steps.hh"
#include "runner/engine/secret_lines.hh"
#include "runner/exec/sandbox.hh"

namespace akbuild::engine {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// Whether this run computes the step's pin (akbuild pin update) rather than checks it: a fetch
// step pinned by its own `hash:` is checked against it, like in any build.
bool updating_pin(const RunEnv& env, const PreparedStep& step) {
  return step.plan.fetch && env.options.update_pins && step.plan.pin.empty() &&
         (env.options.update_pin_ids.empty() || env.options.update_pin_ids.count(step.request.id));
}

// The hint a pin fault ends with: the command that recomputes the step's pin.
std::string pin_hint(const PreparedStep& step) {
  const auto& command = step.request.pin_command;
  return "`" + (command.empty() ? std::string("akbuild pin update") : command) + " --id " + step.request.id + "`";
}

// The stored result for `key` with every output blob present and intact (re-hashed only where
// its intact mark is gone: once, here, not again when it is linked out); nullopt on a miss. A
// corrupt entry is evicted and reported, and counts as a miss.
// Outputs found in the workspace already, exactly as stored, go into `present`: their blobs are
// not checked (the files are those blobs, still marked, or hash like them) and are not written.
Result<std::optional<cas::ActionRecord>> lookup(RunEnv& env, const PreparedStep& step, const cas::Digest& key,
                                                std::set<std::string>& present) {
  auto got = env.cache.actions().get(key, step.plan.outputs);
  if (!got) {
    if (got.error().code != ErrorCode::corrupt) return fail(got.error());
    log_line(env, step.request.id, "cache entry for " + step.request.id + " was corrupt (" + got.error().message +
                                       "); re-running");
    return std::optional<cas::ActionRecord>{};
  }
  if (!*got) return std::optional<cas::ActionRecord>{};
  present.clear();
  for (const auto& [out, output] : (*got)->outputs) {
    bool file = output.kind == cas::ActionOutput::Kind::file;
    // A directory output the daemon saw in place, unchanged since: no walk at all.
    fs::path dest = env.workspace / strip_trailing_slashes(out);
    if (!file && env.present && env.present->unchanged(dest, output.digest)) {
      present.insert(out);
      continue;
    }
    auto mark = !file && env.present ? env.present->arm(dest) : std::nullopt;
    if (auto here = output_present(env.cache, output.digest, file, env.workspace, out); here && *here) {
      if (env.present) env.present->remember(dest, output.digest, mark);
      present.insert(out);
      continue;
    }
    if (auto verified = cas::check_tree(env.cache.blobs(), output.digest); !verified) {
      (void)env.cache.actions().remove(key);
      log_line(env, step.request.id, "cache entry for " + step.request.id + " was corrupt (" +
                                         verified.error().message + "); re-running");
      return std::optional<cas::ActionRecord>{};
    }
  }
  return got;
}

// Into the workspace as read-only links to the blobs (a 25,000-file hit costs about `cp -al`);
// later steps key, and images layer, them as the 0644 files their trees record.
Result<> materialize_all(RunEnv& env, const cas::ActionRecord& action, const std::set<std::string>& present = {}) {
  for (const auto& [out, output] : action.outputs)
    if (!present.count(out))
      AK_TRY_VOID(materialize_output(env.cache, output.digest, output.kind == cas::ActionOutput::Kind::file,
                                     env.workspace, out));
  return ok();
}

// Lists which files differ between two sets of output trees (for a pin mismatch).
std::vector<std::string> diff_outputs(RunEnv& env, const cas::ActionRecord& before,
                                      const std::map<std::string, cas::ActionOutput>& after) {
  std::vector<std::string> lines;
  for (const auto& [out, output] : after) {
    auto it = before.outputs.find(out);
    if (it == before.outputs.end()) { lines.push_back("  + " + out); continue; }
    auto la = cas::list_tree(env.cache.blobs(), it->second.digest);
    auto lb = cas::list_tree(env.cache.blobs(), output.digest);
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

// The whole input directories left in the workspace instead of staged file by file: bound
// read-only into the sandbox of a kind that only runs commands (under bubblewrap: a plain run
// would reach the workspace through them), or read in place by an in-process kind that asks for
// them (StepPlan::read_in_place). Never one holding or inside an output of the step or of a
// dependency (those are mounted or staged at their place), and only one reached beneath the
// workspace without a symlink.
Result<std::vector<BoundInputDir>> unstaged_input_dirs(
    RunEnv& env, const PreparedStep& step, const KeyedStep& keyed,
    const std::vector<const cas::ActionRecord*>& dep_results) {
  std::vector<BoundInputDir> dirs;
  // Any other kind that reads its inputs in-process (go.mod, a lockfile) reads the staged input
  // root itself, where a bind mount would show an empty directory.
  bool bind = step.plan.sandboxed && step.plan.inputs_bindable && env.options.sandbox != exec::SandboxMode::off &&
              exec::sandbox_available();
  if (keyed.whole_dirs.tops.empty() || (!bind && step.plan.read_in_place.empty())) return dirs;
  std::vector<std::string> placed;
  for (const auto& o : step.plan.outputs) placed.push_back(strip_trailing_slashes(o));
  for (const auto* r : dep_results)
    for (const auto& [o, output] : r->outputs) placed.push_back(strip_trailing_slashes(o));
  for (const auto& d : keyed.whole_dirs.tops) {
    if (!bind && std::none_of(step.plan.read_in_place.begin(), step.plan.read_in_place.end(),
                              [&](const auto& r) { return strip_trailing_slashes(r) == d; }))
      continue;
    if (std::any_of(placed.begin(), placed.end(), [&](const auto& o) { return path_within(o, d) || path_within(d, o); }))
      continue;
    auto fd = open_dir_beneath(env.workspace, d, false);
    if (!fd) continue;
    dirs.push_back({d, env.workspace / d, std::move(*fd)});
  }
  return dirs;
}

// The stat, when keyed, of every directory inside `unstaged` (an entry added to one reaches
// the step).
std::vector<InputFile> unstaged_dir_stats(const KeyedStep& keyed, const std::vector<BoundInputDir>& unstaged) {
  std::vector<InputFile> dirs;
  for (const auto& d : keyed.whole_dirs.dirs)
    if (std::any_of(unstaged.begin(), unstaged.end(), [&](const auto& u) { return path_within(d.path, u.rel); }))
      dirs.push_back(d);
  return dirs;
}

struct Miss {
  cas::ActionRecord action;
  std::map<std::string, std::string> values;
};

Result<Miss> run_miss(RunEnv& env, const PreparedStep& step, const KeyedStep& keyed,
                      const std::vector<const cas::ActionRecord*>& dep_results,
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
  auto input_dirs = AK_TRY(unstaged_input_dirs(env, step, keyed, dep_results));
  auto input_dir_stats = unstaged_dir_stats(keyed, input_dirs);
  std::vector<std::string> files;
  for (const auto& f : keyed.inputs)
    if (std::none_of(input_dirs.begin(), input_dirs.end(), [&](const auto& d) { return path_within(f.path, d.rel); }))
      files.push_back(f.path);
  AK_TRY_VOID(exec::stage_inputs_beneath(in, env.workspace, files));
  for (const auto& d : input_dirs) AK_TRY_VOID(open_dir_beneath(in, d.rel, true));
  for (std::size_t i = 0; i < dep_results.size(); ++i) {
    for (const auto& [o, output] : dep_results[i]->outputs) {
      // Whatever was staged at o is swapped out, never written through.
      auto staged = materialize_output(env.cache, output.digest, output.kind == cas::ActionOutput::Kind::file, in, o);
      if (!staged) return fail(staged.error().context("step '" + id + "': staging outputs of '" +
                                                      dep_steps[i]->request.id + "'"));
    }
  }

  emit_state(env, id, StepState::started, {}, {{"key", keyed.key.hex()}});
  bool network = step.plan.fetch && (!step.pin.empty() || updating_pin(env, step));
  fs::path out_log = tmp.path() / "stdout", err_log = tmp.path() / "stderr";
  StepRunContext ctx(env, step, keyed, dep_results, in, out, network,
                     AK_TRY(open_fd(out_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)),
                     AK_TRY(open_fd(err_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)));
  ctx.bind_input_dirs(std::move(input_dirs), input_dir_stats);
  auto outcome = step.kind->run(*step.params, ctx);
  if (!outcome) return fail(outcome.error());

  Miss miss;
  auto& a = miss.action;
  // Each output's kind, from one lstat (the run is over: nothing changes them any more).
  std::map<std::string, cas::ActionOutput::Kind> kinds;
  for (const auto& o : step.plan.outputs) {
    struct stat st {};
    if (::lstat((out / strip_trailing_slashes(o)).c_str(), &st) != 0)
      return fail(ErrorCode::step_failed, "step '" + id + "': output '" + o + "' was not produced");
    kinds[o] = S_ISDIR(st.st_mode) ? cas::ActionOutput::Kind::tree : cas::ActionOutput::Kind::file;
  }
  // A fetch step's NAR hash is read before its files move into the cache.
  std::string sri;
  if (step.plan.fetch) {
    fs::path pinned = step.plan.outputs.size() == 1 ? out / strip_trailing_slashes(step.plan.outputs[0]) : out;
    if (step.plan.pin_flat) {
      auto got = nixdrv::flat_digest(pinned);
      if (!got) return fail(got.error().context("step '" + id + "': hash of the output"));
      sri = got->hash.to_sri();
    } else {
      auto got = nixdrv::nar_hash(pinned);
      if (!got) return fail(got.error().context("step '" + id + "': NAR hash of the outputs"));
      sri = got->to_sri();
    }
  }
  for (const auto& o : step.plan.outputs) {
    auto p = out / strip_trailing_slashes(o);
    // Moved, not copied: the run dir is thrown away, and a hit links the same blobs back out.
    auto d = cas::store_tree(env.cache.blobs(), p, nullptr, cas::StoreMode::move);
    if (!d) return fail(d.error().context("step '" + id + "': output '" + o + "'"));
    a.outputs[o] = {kinds.at(o), *d};
  }
  a.values = outcome->values;

  cas::Digest key = keyed.key;
  std::string manifest = keyed.manifest;
  if (step.plan.fetch) {
    a.nar_hash = sri;
    miss.values["nar-hash"] = sri;
    if (updating_pin(env, step)) {
      manifest = AK_TRY(key_secret_lines(fetch_manifest(step, env.platform, sri), env.cache.root()));
      key = Manifest::key_of(manifest);
      // What changed against the tree of the old pin, when the cache still has it.
      // The step's last result when it has the old pin (its parameters may have changed since),
      // else the result of these parameters with the old pin.
      if (!step.pin.empty() && step.pin != sri) {
        Result<std::optional<cas::ActionRecord>> before = std::optional<cas::ActionRecord>{};
        if (auto last = env.cache.actions().last_manifest(id); last && *last)
          before = env.cache.actions().get(Manifest::key_of(**last), step.plan.outputs);
        if (!before || !*before || (*before)->nar_hash != step.pin)
          before = env.cache.actions().get(
              Manifest::key_of(AK_TRY(key_secret_lines(fetch_manifest(step, env.platform, step.pin), env.cache.root()))),
              step.plan.outputs);
        if (before && *before) {
          std::string diff;
          for (const auto& l : diff_outputs(env, **before, a.outputs)) diff += (diff.empty() ? "" : "\n") + l;
          miss.values["pin-diff"] = diff.empty() ? "  (the same files; modes or links differ)" : diff;
        } else {
          miss.values["pin-diff"] = "  (the tree of the old pin is not in the cache)";
        }
      }
    } else if (sri != step.pin) {
      std::string msg = "step '" + id + "': hash mismatch in fetch output:\n  specified: " + step.pin +
                        "\n  got:       " + sri;
      auto last = env.cache.actions().last_manifest(id);
      if (last && *last) {
        auto before = env.cache.actions().get(Manifest::key_of(**last), step.plan.outputs);
        if (before && *before) {
          auto lines = diff_outputs(env, **before, a.outputs);
          if (!lines.empty()) msg += "\nfiles that differ from the last output of '" + id + "':";
          for (const auto& l : lines) msg += "\n" + l;
        }
      }
      if (step.plan.pin.empty()) msg += "\nif the new content is expected, record it: " + pin_hint(step);
      return fail(ErrorCode::failed_precondition, msg);
    }
  }
  if (auto e = ctx.log_error()) return fail(e->context("step '" + id + "': writing its log"));
  auto out_blob = AK_TRY(env.cache.blobs().put_file(out_log));
  auto err_blob = AK_TRY(env.cache.blobs().put_file(err_log));
  a.key = key;
  a.exit_code = ctx.exit_code();
  a.stdout_log = out_blob;
  a.stderr_log = err_blob;
  a.started = started;
  a.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
  a.step_id = id;
  a.kind = step.request.kind;
  // An input that changed since it was keyed (an editor saving, or the step writing it through
  // its staged link) may have entered the outputs in its new form: such a result is used this
  // once, never cached under the old key.
  auto changed = changed_input(env.workspace, keyed.inputs, input_dir_stats);
  // Every blob is made durable by one sync, which waits for the disk to take what the step
  // wrote; meanwhile the outputs are linked into the workspace, which needs no durability (a
  // crash before the record only costs a re-run). Only after both does the result become visible.
  std::future<Result<>> synced;
  if (!changed) synced = std::async(std::launch::async, [&env] { return env.cache.blobs().sync(); });
  auto placed = materialize_all(env, a);
  if (synced.valid()) AK_TRY_VOID(synced.get());
  if (!placed) return fail(placed.error().context("step '" + id + "': materializing"));
  if (changed) {
    log_line(env, id, "warning: input " + *changed + " while the step ran; its result is not cached");
    return miss;
  }
  AK_TRY_VOID(env.cache.actions().put(a));
  if (updating_pin(env, step) && keyed.inputs_key) {
    // Also under the key of what it read, so the next pin update with the same inputs reuses it.
    cas::ActionRecord by_inputs = a;
    by_inputs.key = *keyed.inputs_key;
    AK_TRY_VOID(env.cache.actions().put(by_inputs));
  }
  AK_TRY_VOID(env.cache.actions().set_last_manifest(id, manifest));
  return miss;
}

// Makes `manifest` the last one of step `id` unless it already is (a hit of the last run).
Result<> remember_last(RunEnv& env, const std::string& id, const std::string& manifest) {
  if (env.cache.read_only()) return ok();
  if (env.cache.actions().last_manifest_size(id) == manifest.size()) {
    auto last = AK_TRY(env.cache.actions().last_manifest(id));
    if (last && *last == manifest) return ok();
  }
  return env.cache.actions().set_last_manifest(id, manifest);
}

void fill_outputs(StepResult& r, const PreparedStep& step, const cas::ActionRecord& a) {
  r.outputs["cache-hit"] = r.cache_hit ? "true" : "false";
  r.outputs["key"] = r.key;
  std::string paths;
  for (const auto& o : step.plan.outputs) paths += (paths.empty() ? "" : "\n") + strip_trailing_slashes(o);
  if (!paths.empty()) r.outputs["path"] = paths;
  for (const auto& [k, v] : a.values) r.outputs[k] = v;
  if (!a.nar_hash.empty()) r.outputs["nar-hash"] = a.nar_hash;
}

} // namespace

StepRun execute_step(RunEnv& env, const PreparedStep& step, const std::vector<const cas::ActionRecord*>& dep_results,
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
    emit_state(env, id, StepState::failed, e.message, {{"code", std::string(to_string(e.code))}});
    emit_state(env, id, StepState::finished, "failed", {{"success", "false"}});
    return run;
  };
  auto done = [&](const cas::ActionRecord& a, bool hit) -> StepRun& {
    r.success = true;
    r.cache_hit = hit;
    fill_outputs(r, step, a);
    run.action = a;
    r.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
    auto values = r.outputs;
    values["success"] = "true";
    values["duration_ms"] = std::to_string(r.duration.count());
    if (r.remote_hit) values["remote-hit"] = "true";
    if (hit) emit_state(env, id, StepState::cached, r.remote_hit ? "remote" : "", {{"key", r.key}});
    emit_state(env, id, StepState::finished, r.remote_hit ? "remote hit" : hit ? "hit" : "ran", std::move(values));
    return run;
  };

  if (step.plan.fetch && step.pin.empty() && !updating_pin(env, step))
    return failed(Error{ErrorCode::failed_precondition,
                        "step '" + id + "' is a fetch step without a pin: run " + pin_hint(step) +
                            " to compute it (or give `hash:`)"});
  for (const auto& ref : step.plan.locked_refs)
    if (!step.locked.count(ref))
      return failed(Error{ErrorCode::failed_precondition, "step '" + id + "' reads " + ref +
                                                              ", which akbuild.lock does not pin: run " +
                                                              pin_hint(step) + " to resolve it (or give @sha256:...)"});
  auto keyed = key_step(step, dep_results, dep_steps, env.cache, env.workspace, env.platform);
  if (!keyed) return failed(keyed.error());
  const cas::Digest& key = keyed->key;
  r.key = key.hex();

  bool force = updating_pin(env, step);
  std::set<std::string> present;
  // A pin update reuses the last fetch that read exactly these inputs (unless told to refetch).
  if (force && !env.options.refetch && keyed->inputs_key) {
    auto hit = lookup(env, step, *keyed->inputs_key, present);
    if (!hit) return failed(hit.error());
    if (*hit && !(*hit)->nar_hash.empty()) {
      auto manifest = key_secret_lines(fetch_manifest(step, env.platform, (*hit)->nar_hash), env.cache.root());
      if (!manifest) return failed(manifest.error());
      r.key = Manifest::key_of(*manifest).hex();
      emit_state(env, id, StepState::planned, "hit", {{"key", r.key}});
      if (auto m = materialize_all(env, **hit, present); !m)
        return failed(m.error().context("step '" + id + "': materializing"));
      if (auto l = remember_last(env, id, *manifest); !l) return failed(l.error());
      return done(**hit, true);
    }
  }
  auto finish_hit = [&](const cas::ActionRecord& a) -> StepRun& {
    if (auto m = materialize_all(env, a, present); !m)
      return failed(m.error().context("step '" + id + "': materializing"));
    // Explain diffs against the entry last used, a hit of an older entry included.
    if (auto l = remember_last(env, id, keyed->manifest); !l) return failed(l.error());
    return done(a, true);
  };
  if (!force) {
    auto hit = lookup(env, step, key, present);
    if (!hit) return failed(hit.error());
    if (*hit) {
      emit_state(env, id, StepState::planned, "hit", {{"key", r.key}});
      return finish_hit(**hit);
    }
    // A local miss asks the remote cache; what it gives is stored here and is a local hit from
    // then on.
    if (env.remote) {
      if (auto pulled = env.remote->pull(env, step, key)) {
        r.remote_hit = true;
        emit_state(env, id, StepState::planned, "remote hit", {{"key", r.key}});
        present.clear();
        return finish_hit(*pulled);
      }
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
  emit_state(env, id, StepState::planned, "miss", std::move(planned));

  if (auto writable = env.cache.require_writable("run step '" + id + "' (a read-only cache dir serves hits only)");
      !writable)
    return failed(writable.error());
  // Identical actions in flight run once: one thread of this process, then one process.
  auto mutex = env.locks.get(r.key);
  std::lock_guard in_process(*mutex);
  auto lock = env.cache.lock_action(key);
  if (!lock) return failed(lock.error());
  if (!force) {
    auto hit = lookup(env, step, key, present);
    if (!hit) return failed(hit.error());
    if (*hit) return finish_hit(**hit);
  }
  auto miss = run_miss(env, step, *keyed, dep_results, dep_steps);
  if (!miss) return failed(miss.error());
  if (env.remote) env.remote->push(env, step, miss->action);
  r.key = miss->action.key.hex();
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
