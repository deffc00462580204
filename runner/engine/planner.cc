#include "runner/engine/planner.hh"

#include <algorithm>
#include <functional>
#include <future>
#include <set>

#include <fmt/format.h>

#include "runner/cas/cache_dir.hh"
#include "runner/core/encoding.hh"
#include "runner/core/fs.hh"
#include "runner/core/hash.hh"
#include "runner/core/memory.hh"
#include "runner/core/program_path.hh"
#include "runner/engine/manifest.hh"
#include "runner/engine/pins.hh"
#include "runner/engine/secret_lines.hh"
#include "steps/params.hh"
#include "steps/registry.hh"

namespace akbuild::engine {

namespace fs = std::filesystem;

namespace {

Result<> check_cycles(const std::vector<PreparedStep>& steps) {
  // 0 = unvisited, 1 = on the stack, 2 = done.
  std::vector<int> state(steps.size(), 0);
  std::function<Result<>(std::size_t)> visit = [&](std::size_t i) -> Result<> {
    if (state[i] == 2) return ok();
    if (state[i] == 1)
      return fail(ErrorCode::invalid_argument, "step '" + steps[i].request.id + "': deps form a cycle");
    state[i] = 1;
    for (auto d : steps[i].deps) AK_TRY_VOID(visit(d));
    state[i] = 2;
    return ok();
  };
  for (std::size_t i = 0; i < steps.size(); ++i) AK_TRY_VOID(visit(i));
  return ok();
}

tl::unexpected<Error> bad(std::string_view kind, std::string_view key, std::string_view what) {
  return fail(ErrorCode::invalid_argument, fmt::format("{}: with: {}: {}", kind, key, what));
}

// A value shown in an error: NUL bytes written as \0, so the message stays one printable line.
std::string shown(std::string_view value) {
  std::string out;
  for (char c : value) out += c == '\0' ? std::string("\\0") : std::string(1, c);
  return out;
}

// The plan fields the engine itself acts on, checked here once for every kind (a kind checks only
// what is its own). deps: no empty step id. env: names neither empty nor holding '=' or a NUL
// byte, values without a NUL byte (a process environment cannot hold them). tools: a program
// name or an absolute path (a relative one would make the key depend on where akbuild started).
Result<> check_plan(std::string_view kind, const steps::StepPlan& plan) {
  for (const auto& d : plan.deps)
    if (d.empty()) return bad(kind, "deps", "an empty step id");
  for (const auto& [name, value] : plan.env) {
    if (name.empty() || name.find_first_of(std::string_view("=\0", 2)) != std::string::npos)
      return bad(kind, "env", fmt::format("'{}' is not a variable name", shown(name)));
    if (value.find('\0') != std::string::npos)
      return bad(kind, "env", fmt::format("the value of '{}' holds a NUL byte", name));
  }
  for (const auto& t : plan.tools) {
    if (t.empty()) return bad(kind, "tools", "an empty program name");
    if (t.find('/') != std::string::npos && t.front() != '/')
      return bad(kind, "tools", fmt::format("'{}' is neither a program name nor an absolute path", t));
  }
  return ok();
}

// A tool's path as keyed: one in a toolchain (materialized in the workspace) relative to the
// workspace, so the key does not depend on where the workspace is; any other as it is.
std::string keyed_tool_path(const fs::path& path, const fs::path& workspace, const std::vector<fs::path>& toolchains) {
  for (const auto& root : toolchains) {
    auto rel = path.lexically_relative(root);
    if (!rel.empty() && *rel.begin() != "..") return "workspace:" + path.lexically_relative(workspace).string();
  }
  return path.string();
}

// `items` as a JSON flow list, which `with:` list values take.
std::string flow_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (const auto& item : items) {
    out += out.size() > 1 ? ", \"" : "\"";
    for (char c : item) {
      if (static_cast<unsigned char>(c) < 0x20) {
        out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));  // YAML's escape: kept as is
        continue;
      }
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "]";
}

void add_params(Manifest& m, const PreparedStep& step, bool skip_hash) {
  m.add("kind: " + step.request.kind);
  m.add("schema: " + std::to_string(step.kind->schema_version()));
  for (auto& line : steps::params_manifest_lines(*step.params)) {
    if (skip_hash && line.rfind("hash: ", 0) == 0) continue;
    m.add("param " + line);
  }
  for (const auto& extra : step.plan.extra_key_lines) m.add("extra " + extra);
  // The digest a tag is pinned to, never the tag's current target.
  for (const auto& ref : step.plan.locked_refs) {
    auto it = step.locked.find(ref);
    m.add("locked " + ref + ": " + (it == step.locked.end() ? std::string("unpinned") : it->second));
  }
}

} // namespace

Result<std::vector<PreparedStep>> prepare_steps(const std::vector<StepRequest>& requests, const fs::path& workspace,
                                                const PinFile& pins, const std::string& platform,
                                                const std::vector<const steps::StepKind*>& kinds, bool confined) {
  std::vector<PreparedStep> out;
  std::map<std::string, std::size_t> by_id;
  std::set<std::string> ids;
  for (const auto& r : requests) ids.insert(r.id);
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const auto& r = requests[i];
    if (r.id.empty()) return fail(ErrorCode::invalid_argument, "a step of kind '" + r.kind + "' has an empty id");
    if (!by_id.emplace(r.id, i).second)
      return fail(ErrorCode::invalid_argument, "step id '" + r.id + "' is used twice");
    PreparedStep p;
    p.index = i;
    p.request = r;
    p.kind = AK_TRY(steps::find_kind(r.kind, kinds));
    auto where = [&](Error e) { return r.id == r.kind ? std::move(e) : std::move(e).context("step '" + r.id + "'"); };
    // `tools:` on any kind may name toolchain steps; the program names left go to the kind.
    steps::WithMap with = r.with;
    if (auto t = with.find("tools"); t != with.end()) {
      auto split = split_tools(t->second, ids, r.id, r.kind);
      if (!split) return fail(where(split.error()));
      p.toolchains = std::move(split->toolchains);
      bool kind_takes_programs = p.kind->params_prototype().GetDescriptor()->FindFieldByName("tools") != nullptr;
      if (!split->programs.empty() && !kind_takes_programs)
        return fail(where(Error{ErrorCode::invalid_argument,
                                fmt::format("{}: with: tools: '{}' is not a step of this run (this kind takes toolchain "
                                            "steps only)",
                                            r.kind, split->programs.front())}));
      if (split->programs.empty()) with.erase(t);
      else if (!p.toolchains.empty()) t->second = flow_list(split->programs);
    }
    auto params = steps::parse_params(p.kind->params_prototype(), with, r.kind);
    if (!params) return fail(where(params.error()));
    p.params = std::move(*params);
    auto plan = p.kind->plan(*p.params, steps::PlanContext{r.id, workspace, platform, p.toolchains, confined});
    if (!plan) return fail(where(plan.error()));
    // A confined client's absolute tool path could name a program of its own, which keying runs
    // (`--version`) outside any sandbox and whose directory the step's sandbox binds in.
    if (confined)
      for (const auto& t : plan->tools)
        if (t.find('/') != std::string::npos)
          return fail(where(Error{ErrorCode::permission_denied,
                                  "tools: " + t + ": a job environment's steps name tools by program name only "
                                  "(found on the daemon's PATH)"}));
    AK_TRY_VOID(check_plan(r.kind, *plan).map_error(where));
    p.plan = std::move(*plan);
    for (const auto& t : p.toolchains)
      if (std::find(p.plan.deps.begin(), p.plan.deps.end(), t) == p.plan.deps.end()) p.plan.deps.push_back(t);
    p.pin = p.plan.pin;
    if (p.plan.fetch && p.pin.empty())
      if (auto locked = pins.get(r.id, platform)) p.pin = *locked;
    for (const auto& ref : p.plan.locked_refs)
      if (auto digest = pins.image(ref)) p.locked[ref] = *digest;
    out.push_back(std::move(p));
  }
  std::vector<std::string> all_outputs;
  for (const auto& p : out)
    for (const auto& o : p.plan.outputs) all_outputs.push_back(strip_trailing_slashes(o) + "/");
  for (auto& p : out) {
    for (const auto& d : p.plan.deps) {
      auto it = by_id.find(d);
      if (it == by_id.end())
        return fail(ErrorCode::invalid_argument, "step '" + p.request.id + "': deps: unknown step '" + d + "'");
      p.deps.push_back(it->second);
    }
    // Outputs are globbed as directories ("out/") so a file output "a.txt" excludes "a.txt/**"
    // and, through the trailing-slash rule, "a.txt" itself.
    auto exclude = p.plan.exclude;
    for (const auto& o : all_outputs) {
      exclude.push_back(o);
      exclude.push_back(o.substr(0, o.size() - 1));
    }
    auto globs = GlobSet::parse(p.plan.inputs, exclude);
    if (!globs) return fail(globs.error().context("step '" + p.request.id + "': inputs"));
    p.globs = std::move(*globs);
  }
  AK_TRY_VOID(check_cycles(out));
  return out;
}

std::string fetch_manifest(const PreparedStep& step, const std::string& platform, const std::string& pin) {
  Manifest m;
  add_params(m, step, true);
  m.add("platform: " + platform);
  m.add("pin: " + pin);
  return m.text();
}

Result<ToolsSplit> split_tools(const std::string& value, const std::set<std::string>& ids, const std::string& self,
                               std::string_view kind) {
  ToolsSplit out;
  for (auto& entry : AK_TRY(steps::parse_string_list(value, fmt::format("{}: with: tools", kind)))) {
    if (entry != self && ids.count(entry)) out.toolchains.push_back(std::move(entry));
    else out.programs.push_back(std::move(entry));
  }
  return out;
}

std::string sandbox_path(const KeyedStep& keyed) {
  std::set<std::string> seen;
  std::string path;
  for (const auto& dir : keyed.toolchain_bins)
    if (seen.insert(dir.string()).second) path += dir.string() + ":";
  for (const auto& [name, t] : keyed.tools) {
    auto dir = t.path.parent_path().string();
    if (seen.insert(dir).second) path += dir + ":";
  }
  for (const char* d : {"/usr/local/bin", "/usr/bin", "/bin"})
    if (seen.insert(d).second) path += std::string(d) + ":";
  path.pop_back();
  return path;
}

Result<KeyedStep> key_step(const PreparedStep& step, const std::vector<const cas::ActionRecord*>& dep_results,
                           const std::vector<const PreparedStep*>& dep_steps, cas::CacheDir& cache,
                           const fs::path& workspace, const std::string& platform) {
  KeyedStep k;
  // Toolchains: their outputs, materialized in the workspace, come first where tools are found.
  std::string toolchain_path;
  for (std::size_t i = 0; i < dep_steps.size(); ++i) {
    const auto& id = dep_steps[i]->request.id;
    if (std::find(step.toolchains.begin(), step.toolchains.end(), id) == step.toolchains.end()) continue;
    for (const auto& [out, output] : dep_results[i]->outputs) {
      if (output.kind != cas::ActionOutput::Kind::tree) continue;
      fs::path root = workspace / strip_trailing_slashes(out);
      std::error_code ec;
      fs::path bin = fs::is_directory(root / "bin", ec) ? root / "bin" : root;
      k.toolchain_roots.push_back(root);
      k.toolchain_bins.push_back(bin);
      toolchain_path += bin.string() + ":";
    }
  }
  // Tools are resolved (hashed, their --version asked once) beside the input scan.
  auto tools = std::async(std::launch::async, [&]() -> Result<std::map<std::string, ToolInfo>> {
    const std::string host_path = toolchain_path + host_search_path();
    std::map<std::string, ToolInfo> out;
    for (const auto& name : step.plan.tools) {
      if (out.count(name)) continue;
      auto t = resolve_tool(name, host_path, cache);
      if (!t) return fail(t.error().context("step '" + step.request.id + "'"));
      out.emplace(name, std::move(*t));
    }
    return out;
  });
  // The last run's manifest has a line per input: a size hint for the scan's records (see
  // runner/core/memory.hh).
  prefault_heap(cache.actions().last_manifest_size(step.request.id) * 3 / 2);
  InputStats counts;
  auto inputs = collect_inputs(workspace, *step.globs, &cache.stat_cache(), 0, &counts, &k.whole_dirs);
  k.tools = AK_TRY(tools.get());
  // The digests just computed are written out while the manifest is made (it waits for them);
  // after the tools are resolved, whose lookups the flush would hold up.
  std::future<Result<>> flushed;
  if (counts.hashed_files)
    flushed = std::async(std::launch::async, [&cache] { return cache.stat_cache().flush(); });
  auto flush_done = [&flushed]() -> Result<> { return flushed.valid() ? flushed.get() : ok(); };
  if (!inputs) return fail(inputs.error().context("step '" + step.request.id + "': inputs"));
  k.inputs = std::move(*inputs);
  Manifest m;
  add_params(m, step, false);
  m.reserve(k.inputs.size() + 64, k.inputs.size() * 120);
  std::string line;
  for (const auto& f : k.inputs) {
    line.assign("input ");
    append_manifest_path(line, f.path);
    if (f.type == FileType::directory) line.append(": directory");
    else if (f.type == FileType::symlink) line.append(": -> ").append(f.target);
    else append_input_mode(line.append(": ").append(f.digest), f.executable, f.permissions);
    m.add(line);
  }
  for (std::size_t i = 0; i < dep_results.size(); ++i) {
    std::string line = "dep " + dep_steps[i]->request.id + ":";
    for (const auto& [out, output] : dep_results[i]->outputs)
      line += " " + manifest_path(out) + "=" + output.digest.hex();
    m.add(std::move(line));
  }
  for (const auto& id : step.toolchains) m.add("toolchain: " + id);
  for (const auto& [name, t] : k.tools)
    m.add("tool " + name + ": " + keyed_tool_path(t.path, workspace, k.toolchain_roots) + " " + t.digest + (t.version.empty() ? "" : " " + t.version) +
          (t.node_modules_digest.empty() ? "" : " (node_modules: " + t.node_modules_digest + ")"));
  for (const auto& [key, value] : step.plan.env) m.add("env " + manifest_path(key) + ": " + manifest_path(value));
  m.add("platform: " + platform);
  if (step.plan.fetch) {
    // What `akbuild pin update` reuses a fetch by: everything it reads, but no pin (see
    // KeyedStep::inputs_key).
    m.add("pin: by inputs");
    k.inputs_key = Manifest::key_of(AK_TRY(key_secret_lines(m.text(), cache.root())));
    k.manifest = fetch_manifest(step, platform, step.pin.empty() ? "none" : step.pin);
    k.manifest = AK_TRY(key_secret_lines(k.manifest, cache.root()));
    k.key = Manifest::key_of(k.manifest);
    AK_TRY_VOID(flush_done());
    // A fetch step still reads its declared inputs (staged like any other step's).
    return k;
  }
  k.manifest = AK_TRY(key_secret_lines(m.text(), cache.root()));
  k.key = Manifest::key_of(k.manifest);
  AK_TRY_VOID(flush_done());
  return k;
}

} // namespace akbuild::engine
