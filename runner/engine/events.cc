#include "runner/engine/events.hh"

#include <ctime>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

namespace akbuild::engine {

std::string_view to_string(Event::Type type) {
  switch (type) {
  case Event::Type::planned: return "planned";
  case Event::Type::started: return "started";
  case Event::Type::log: return "log";
  case Event::Type::cached: return "cached";
  case Event::Type::finished: return "finished";
  case Event::Type::failed: return "failed";
  case Event::Type::skipped: return "skipped";
  case Event::Type::progress: return "progress";
  }
  return "unknown";
}

nlohmann::json to_json(const Event& event) {
  nlohmann::json j;
  j["event"] = std::string(to_string(event.type));
  if (!event.step_id.empty()) j["step"] = event.step_id;
  if (!event.stream.empty()) j["stream"] = event.stream;
  if (!event.text.empty() || event.type == Event::Type::log) j["text"] = event.text;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(event.time.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  j["time"] = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                          tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
  for (const auto& [k, v] : event.values)
    if (!j.contains(k)) j[k] = v;
  return j;
}

} // namespace akbuild::engine
