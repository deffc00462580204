#pragma once
// What the engine reports while it works. The CLI renders events as a progress line and logs,
// or as one JSON object per line (--json); the gRPC service turns them into Execute messages.

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace akbuild::engine {

struct Event {
  enum class Type {
    planned,    // key and hit/miss known (text: "hit" or "miss")
    started,    // the step's command started (a miss)
    log,        // one log line (stream: "stdout" / "stderr" / "akbuild")
    cached,     // the step was a hit; outputs materialized
    finished,   // the step ended (success or not); values holds its outputs
    failed,     // the step failed; text is the one-line reason
    skipped,    // not run because a dependency failed
    progress,   // done/total counts in values
  };
  Type type = Type::log;
  std::string step_id;
  std::string stream;
  std::string text;
  std::map<std::string, std::string> values;
  std::chrono::system_clock::time_point time = std::chrono::system_clock::now();
};

std::string_view to_string(Event::Type type);
// {"event":"log","step":"web","stream":"stdout","text":"...","time":"2026-...Z", ...values}
nlohmann::json to_json(const Event& event);

// Receives events; called from several threads, so implementations synchronise.
class EventSink {
public:
  virtual ~EventSink() = default;
  virtual void on_event(const Event& event) = 0;
};

} // namespace akbuild::engine
