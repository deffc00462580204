#include "runner/engine/pins.hh"

#include <algorithm>
#include <functional>
#include <set>

#include <sys/utsname.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "runner/cas/cache_dir.hh"
#include "runner/core/fs.hh"
#include "runner/engine/planner.hh"
#include "steps/registry.hh"

namespace akbuild::engine {

namespace fs = std::filesystem;

std::string current_platform() {
  struct utsname u {};
  std::string machine = ::uname(&u) == 0 ? u.machine : "unknown";
  return machine + "-linux";
}

Result<PinFile> PinFile::load(const fs::path& workspace) {
  PinFile f;
  f.m_path = workspace / k_file_name;
  auto text = read_file(f.m_path);
  if (!text) {
    if (text.error().code == ErrorCode::not_found) return f;
    return fail(text.error());
  }
  try {
    auto j = nlohmann::json::parse(*text);
    if (!j.is_object() || j.value("version", 0) != 1)
      return fail(ErrorCode::invalid_argument, f.m_path.string() + ": not an akbuild.lock of version 1");
    for (const auto& [id, platforms] : j.at("pins").items())
      for (const auto& [platform, sri] : platforms.items()) f.m_pins[id][platform] = sri.get<std::string>();
    if (j.contains("images"))
      for (const auto& [ref, digest] : j.at("images").items()) {
        auto d = digest.get<std::string>();
        bool hex = d.size() == 71 && d.rfind("sha256:", 0) == 0 &&
                   d.find_first_not_of("0123456789abcdef", 7) == std::string::npos;
        if (!hex)
          return fail(ErrorCode::invalid_argument,
                      f.m_path.string() + ": images: " + ref + ": '" + d + "' is not a sha256:<64 hex> digest");
        f.m_images[ref] = d;
      }
  } catch (const nlohmann::json::exception& e) {
    return fail(ErrorCode::invalid_argument, f.m_path.string() + ": " + e.what());
  }
  return f;
}

std::optional<std::string> PinFile::get(const std::string& step_id, const std::string& platform) const {
  auto it = m_pins.find(step_id);
  if (it == m_pins.end()) return std::nullopt;
  auto p = it->second.find(platform);
  if (p == it->second.end()) return std::nullopt;
  return p->second;
}

std::vector<std::string> PinFile::platforms(const std::string& step_id) const {
  std::vector<std::string> out;
  if (auto it = m_pins.find(step_id); it != m_pins.end())
    for (const auto& [platform, sri] : it->second) out.push_back(platform);
  return out;
}

void PinFile::set(const std::string& step_id, const std::string& platform, const std::string& sri) {
  m_pins[step_id][platform] = sri;
}

std::optional<std::string> PinFile::image(const std::string& ref) const {
  auto it = m_images.find(ref);
  if (it == m_images.end()) return std::nullopt;
  return it->second;
}

void PinFile::set_image(const std::string& ref, const std::string& digest) { m_images[ref] = digest; }

Result<> PinFile::save() const {
  nlohmann::json j;
  j["version"] = 1;
  j["pins"] = nlohmann::json::object();
  for (const auto& [id, platforms] : m_pins)
    for (const auto& [platform, sri] : platforms) j["pins"][id][platform] = sri;
  if (!m_images.empty()) j["images"] = m_images;
  return write_file_atomic(m_path, j.dump(2) + "\n");
}

Result<std::vector<PinChange>> update_pins(EngineOptions options, const std::vector<StepRequest>& steps,
                                           const PinUpdate& update, EventSink& events) {
  if (options.kinds.empty()) options.kinds = steps::all_kinds();
  auto pins = AK_TRY(PinFile::load(options.workspace));
  auto prepared = AK_TRY(prepare_steps(steps, options.workspace, pins, current_platform(), options.kinds, options.confined));
  // Fetch steps pinned by the lock file (not by their own `hash:`).
  // Those pinned by their own `hash:` run too when no --id names steps: checked, not recorded.
  std::vector<std::string> pinnable, fetches;
  std::map<std::string, const PreparedStep*> by_id;
  for (const auto& p : prepared) {
    by_id[p.request.id] = &p;
    if (p.plan.fetch) fetches.push_back(p.request.id);
    if ((p.plan.fetch && p.plan.pin.empty()) || !p.plan.locked_refs.empty()) pinnable.push_back(p.request.id);
  }
  std::vector<std::string> chosen;
  for (const auto& id : update.ids.empty() ? fetches : update.ids)
    if (by_id.count(id) && by_id.at(id)->plan.fetch) chosen.push_back(id);
  std::string listed = pinnable.empty() ? "none" : fmt::format("{}", fmt::join(pinnable, ", "));
  for (const auto& id : update.ids) {
    auto it = by_id.find(id);
    if (it == by_id.end())
      return fail(ErrorCode::invalid_argument, "pin update: --id " + id + ": no such step (fetch steps: " + listed + ")");
    if (std::find(pinnable.begin(), pinnable.end(), id) == pinnable.end())
      return fail(ErrorCode::invalid_argument, "pin update: --id " + id + ": " + it->second->request.kind +
                                                   (it->second->plan.fetch ? " step pinned by its own `hash:`"
                                                                           : " step is not a fetch step") +
                                                   " (fetch steps: " + listed + ")");
  }
  // The chosen steps and, transitively, the steps they depend on, in the order given.
  std::vector<bool> wanted(prepared.size(), false);
  std::function<void(std::size_t)> want = [&](std::size_t i) {
    if (wanted[i]) return;
    wanted[i] = true;
    for (auto d : prepared[i].deps) want(d);
  };
  for (const auto& id : chosen) want(by_id.at(id)->index);
  std::vector<StepRequest> run;
  for (std::size_t i = 0; i < prepared.size(); ++i)
    if (wanted[i]) run.push_back(steps[i]);
  std::vector<PinChange> changes;
  // Registry tags: resolved now, their content kept in the cache for builds of the digest.
  std::vector<const PreparedStep*> readers;
  for (const auto& p : prepared)
    if (!p.plan.locked_refs.empty() &&
        (update.ids.empty() || std::find(update.ids.begin(), update.ids.end(), p.request.id) != update.ids.end()))
      readers.push_back(&p);
  if (!readers.empty()) {
    auto cache = AK_TRY(cas::CacheDir::open(options.cache_dir));
    std::set<std::string> done;
    for (const auto* p : readers)
      for (const auto& ref : p->plan.locked_refs) {
        if (!done.insert(ref).second) continue;
        auto digest = p->kind->resolve_ref(*p->params, ref, *cache);
        if (!digest) return fail(digest.error().context("pin update: step '" + p->request.id + "'"));
        changes.push_back(PinChange{ref, pins.image(ref).value_or(""), *digest, false, {}, {}});
        pins.set_image(ref, *digest);
      }
  }
  if (run.empty()) {
    bool moved = std::any_of(changes.begin(), changes.end(), [](const PinChange& c) { return c.old_pin != c.new_pin; });
    if (moved && !update.check) AK_TRY_VOID(pins.save());
    return changes;
  }

  options.update_pins = true;
  for (const auto& id : chosen)
    if (by_id.at(id)->plan.pin.empty()) options.update_pin_ids.insert(id);
  if (options.update_pin_ids.empty()) options.update_pin_ids.insert("");  // none: every pin is checked
  auto engine = AK_TRY(Engine::open(options));
  auto results = AK_TRY(engine->run(run, events));
  std::optional<Error> first_error;
  for (const auto& id : chosen) {
    auto r = std::find_if(results.begin(), results.end(), [&](const StepResult& s) { return s.id == id; });
    if (r == results.end() || !r->success) {
      if (first_error) continue;
      if (r != results.end() && r->error) first_error = r->error;
      else first_error = Error{ErrorCode::step_failed, "step '" + id + "' was skipped: a dependency failed"};
      continue;
    }
    auto it = r->outputs.find("nar-hash");
    if (it == r->outputs.end() || !options.update_pin_ids.count(id)) continue;
    PinChange c{id, pins.get(id, current_platform()).value_or(""), it->second, r->cache_hit, {}, {}};
    if (auto d = r->outputs.find("pin-diff"); d != r->outputs.end()) c.diff = d->second;
    pins.set(id, current_platform(), it->second);
    if (by_id.at(id)->plan.pin_any_platform)
      for (const auto& platform : pins.platforms(id))
        if (pins.get(id, platform) != it->second) {
          pins.set(id, platform, it->second);
          c.other_platforms.push_back(platform);
        }
    changes.push_back(std::move(c));
  }
  bool moved = std::any_of(changes.begin(), changes.end(),
                           [](const PinChange& c) { return c.old_pin != c.new_pin || !c.other_platforms.empty(); });
  if (moved && !update.check) AK_TRY_VOID(pins.save());
  if (first_error) return fail(*first_error);
  return changes;
}

} // namespace akbuild::engine
