#include "runner/engine/events.hh"

#include <ctime>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

namespace akbuild::engine {

namespace {

template <class... F>
struct Overload : F... {
  using F::operator()...;
};
// Spelled out: clang before 17 does not deduce an aggregate's template arguments (C++20 P1816).
template <class... F>
Overload(F...) -> Overload<F...>;

std::string iso_time(std::chrono::system_clock::time_point time) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

} // namespace

std::string_view to_string(StepState state) {
  switch (state) {
  case StepState::planned: return "planned";
  case StepState::started: return "started";
  case StepState::cached: return "cached";
  case StepState::finished: return "finished";
  case StepState::failed: return "failed";
  case StepState::skipped: return "skipped";
  }
  return "unknown";
}

std::string_view to_string(LogStream stream) {
  switch (stream) {
  case LogStream::out: return "stdout";
  case LogStream::err: return "stderr";
  case LogStream::akbuild: return "akbuild";
  }
  return "unknown";
}

const std::string& step_id(const Event& event) {
  static const std::string none;
  return std::visit(Overload{[](const StateChange& s) -> const std::string& { return s.step_id; },
                             [](const LogLine& l) -> const std::string& { return l.step_id; },
                             [](const Progress&) -> const std::string& { return none; }},
                    event.body);
}

std::string_view event_name(const Event& event) {
  return std::visit(Overload{[](const StateChange& s) { return to_string(s.state); },
                             [](const LogLine&) { return std::string_view("log"); },
                             [](const Progress&) { return std::string_view("progress"); }},
                    event.body);
}

nlohmann::json to_json(const Event& event) {
  nlohmann::json j;
  j["event"] = std::string(event_name(event));
  std::visit(Overload{[&](const StateChange& s) {
                        j["step"] = s.step_id;
                        if (!s.text.empty()) j["text"] = s.text;
                      },
                      [&](const LogLine& l) {
                        j["step"] = l.step_id;
                        j["stream"] = std::string(to_string(l.stream));
                        j["text"] = l.text;
                      },
                      [&](const Progress& p) {
                        j["done"] = p.done;
                        j["total"] = p.total;
                        j["running"] = p.running;
                        j["cached"] = p.cached;
                      }},
             event.body);
  j["time"] = iso_time(event.time);
  if (const auto* s = std::get_if<StateChange>(&event.body))
    for (const auto& [k, v] : s->values)
      if (!j.contains(k)) j[k] = v;
  return j;
}

} // namespace akbuild::engine
