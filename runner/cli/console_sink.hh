#pragma once
// Renders engine events for a person or a script (the CLI's view of a run):
// - json: one event object per line on stdout (to_json);
// - plain: `[id] line` for logs, then `[id] hit (key 1a2b3c4d5e6f) in 0.12s` or `ran`, `failed: ...`;
// - tty: the plain lines, with a live progress line (done/total, running, cached, elapsed) kept
//   below them on stderr and redrawn as events arrive and every 200 ms.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

#include "runner/engine/events.hh"

namespace akbuild::cli {

class ConsoleSink final : public engine::EventSink {
public:
  enum class Mode { plain, tty, json };
  // `explain`: print why each miss misses (the planned event's explain lines).
  ConsoleSink(Mode mode, bool explain);
  ~ConsoleSink() override;
  ConsoleSink(const ConsoleSink&) = delete;
  ConsoleSink& operator=(const ConsoleSink&) = delete;

  void on_event(const engine::Event& event) override;
  // Clears the progress line (call before printing anything else).
  void close();

  // tty when stderr is a terminal and json is not asked for.
  static Mode pick(bool json);

private:
  void print(const std::string& line);  // holds m_mutex
  void draw_progress();                 // holds m_mutex
  void on_state(const engine::StateChange& state);  // holds m_mutex

  Mode m_mode;
  bool m_explain;
  std::mutex m_mutex;
  engine::Progress m_progress;
  std::chrono::steady_clock::time_point m_start = std::chrono::steady_clock::now();
  bool m_progress_shown = false;
  std::atomic<bool> m_stop{false};
  std::thread m_ticker;
};

} // namespace akbuild::cli
