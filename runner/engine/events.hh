#pragma once
// What the engine reports while it works: a step's state changing, a log line, or the run's
// progress counts. The same values travel in-process and over the daemon's Execute stream
// (runner/service/convert.hh maps each field onto one proto field). The CLI renders events as a
// progress line and logs, or as one JSON object per line (--json).

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace akbuild::engine {

enum class StepState {
  planned,    // key and hit/miss known (text: "hit", "remote hit" or "miss"; values: key, explain)
  started,    // the step's command started (a miss; values: key)
  cached,     // the step was a hit; outputs materialized (values: key)
  finished,   // the step ended (text: "hit", "remote hit", "ran" or "failed"); values hold its outputs
  failed,     // the step failed; text is the one-line reason (values: code)
  skipped,    // not run: a dependency failed, or the run was cancelled (text says which)
};

struct StateChange {
  std::string step_id;
  StepState state = StepState::planned;
  std::string text;
  std::map<std::string, std::string> values;
};

enum class LogStream { out, err, akbuild };  // the command's stdout, stderr, or akbuild's own line

struct LogLine {
  std::string step_id;
  LogStream stream = LogStream::akbuild;
  std::string text;  // without the newline
};

// Counts over the steps of one run.
struct Progress {
  std::uint32_t done = 0, total = 0, running = 0, cached = 0;
  auto operator<=>(const Progress&) const = default;
};

struct Event {
  std::variant<StateChange, LogLine, Progress> body;
  std::chrono::system_clock::time_point time = std::chrono::system_clock::now();
};

std::string_view to_string(StepState state);
std::string_view to_string(LogStream stream);
// The step an event is about; empty for progress.
const std::string& step_id(const Event& event);
// The event's name in --json: the state's name, "log" or "progress".
std::string_view event_name(const Event& event);
// {"event":"log","step":"web","stream":"stdout","text":"...","time":"2026-...Z", ...values}
// (progress: {"event":"progress","done":1,"total":3,"running":1,"cached":0,"time":...}).
nlohmann::json to_json(const Event& event);

// Receives events; called from several threads, so implementations synchronise.
class EventSink {
public:
  virtual ~EventSink() = default;
  virtual void on_event(const Event& event) = 0;
};

} // namespace akbuild::engine
