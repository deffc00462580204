#include "runner/engine/pins.hh"

#include <algorithm>

#include <sys/utsname.h>

#include <nlohmann/json.hpp>

#include "runner/core/fs.hh"

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

void PinFile::set(const std::string& step_id, const std::string& platform, const std::string& sri) {
  m_pins[step_id][platform] = sri;
}

Result<> PinFile::save() const {
  nlohmann::json j;
  j["version"] = 1;
  j["pins"] = nlohmann::json::object();
  for (const auto& [id, platforms] : m_pins)
    for (const auto& [platform, sri] : platforms) j["pins"][id][platform] = sri;
  return write_file_atomic(m_path, j.dump(2) + "\n");
}

Result<std::vector<PinChange>> update_pins(EngineOptions options, const std::vector<StepRequest>& steps,
                                           EventSink& events) {
  options.update_pins = true;
  auto engine = AK_TRY(Engine::open(options));
  auto results = AK_TRY(engine->run(steps, events));
  auto pins = AK_TRY(PinFile::load(engine->options().workspace));
  std::vector<PinChange> changes;
  std::optional<Error> first_error;
  for (const auto& r : results) {
    if (!r.success) {
      if (!first_error && r.error) first_error = r.error;
      else if (!first_error) first_error = Error{ErrorCode::step_failed, "step '" + r.id + "' was skipped"};
      continue;
    }
    auto it = r.outputs.find("nar-hash");
    if (it == r.outputs.end()) continue;
    // An explicit `hash:` wins over the lock file and is not recorded there.
    const auto& req = *std::find_if(steps.begin(), steps.end(), [&](const StepRequest& s) { return s.id == r.id; });
    if (auto h = req.with.find("hash"); h != req.with.end() && !h->second.empty()) continue;
    PinChange c{r.id, pins.get(r.id, current_platform()).value_or(""), it->second};
    pins.set(r.id, current_platform(), it->second);
    changes.push_back(std::move(c));
  }
  if (!changes.empty()) AK_TRY_VOID(pins.save());
  if (first_error) return fail(*first_error);
  return changes;
}

} // namespace akbuild::engine
