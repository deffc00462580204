#include "runner/cli/console_sink.hh"

#include <sstream>

#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "runner/core/ansi.hh"
#include "runner/core/secrets.hh"

namespace akbuild::cli {

namespace {

std::string seconds(const std::string& ms_text) {
  double ms = 0;
  try { ms = std::stod(ms_text); } catch (...) {}
  return fmt::format("{:.2f}s", ms / 1000.0);
}

} // namespace

ConsoleSink::Mode ConsoleSink::pick(bool json) {
  if (json) return Mode::json;
  return ::isatty(STDERR_FILENO) ? Mode::tty : Mode::plain;
}

ConsoleSink::ConsoleSink(Mode mode, bool explain) : m_mode(mode), m_explain(explain) {
  if (m_mode == Mode::tty)
    m_ticker = std::thread([this] {
      while (!m_stop.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        std::lock_guard lock(m_mutex);
        if (!m_stop.load()) draw_progress();
      }
    });
}

ConsoleSink::~ConsoleSink() { close(); }

void ConsoleSink::close() {
  m_stop.store(true);
  if (m_ticker.joinable()) m_ticker.join();
  std::lock_guard lock(m_mutex);
  if (m_progress_shown) {
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
    m_progress_shown = false;
  }
}

void ConsoleSink::draw_progress() {
  if (m_mode != Mode::tty || m_stop.load()) return;
  auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
  std::fputs(fmt::format("\r\033[K[{}/{}] running {}, cached {}, {:.1f}s", m_progress.done, m_progress.total,
                         m_progress.running, m_progress.cached, elapsed)
                 .c_str(),
             stderr);
  std::fflush(stderr);
  m_progress_shown = true;
}

void ConsoleSink::print(const std::string& line) {
  if (m_progress_shown) {
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
    m_progress_shown = false;
  }
  // Tools' colour codes only where a terminal shows them (the action's log reads --json).
  static const bool colour = colour_wanted(STDOUT_FILENO);
  std::fputs(((colour ? mask_secrets(line) : strip_ansi(mask_secrets(line))) + "\n").c_str(), stdout);
  std::fflush(stdout);
}

void ConsoleSink::on_event(const engine::Event& e) {
  std::lock_guard lock(m_mutex);
  if (m_mode == Mode::json) {
    // Masked before encoding, where a secret holding '"' or '\\' is as registered, and after.
    engine::Event masked = e;
    if (auto* log = std::get_if<engine::LogLine>(&masked.body)) log->text = mask_secrets(log->text);
    if (auto* state = std::get_if<engine::StateChange>(&masked.body)) {
      state->text = mask_secrets(state->text);
      for (auto& [k, v] : state->values) v = mask_secrets(v);
    }
    auto text = to_json(masked).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::fputs((mask_secrets(text) + "\n").c_str(), stdout);
    std::fflush(stdout);
    return;
  }
  if (const auto* progress = std::get_if<engine::Progress>(&e.body)) {
    m_progress = *progress;
  } else if (const auto* log = std::get_if<engine::LogLine>(&e.body)) {
    print("[" + log->step_id + "] " + log->text);
  } else {
    on_state(std::get<engine::StateChange>(e.body));
  }
  draw_progress();
}

void ConsoleSink::on_state(const engine::StateChange& s) {
  const std::string tag = "[" + s.step_id + "] ";
  auto value = [&](const char* k) {
    auto it = s.values.find(k);
    return it == s.values.end() ? std::string() : it->second;
  };
  switch (s.state) {
  case engine::StepState::planned:
    if (m_explain && s.text == "miss") {
      std::istringstream in(value("explain"));
      std::string line;
      while (std::getline(in, line)) print(tag + "miss: " + line);
    }
    break;
  case engine::StepState::failed: {
    std::istringstream in(s.text);
    std::string line;
    bool first = true;
    while (std::getline(in, line)) {
      print(tag + (first ? "failed: " : "") + line);
      first = false;
    }
    break;
  }
  case engine::StepState::finished:
    if (value("success") == "true")
      print(tag + s.text + " (key " + value("key").substr(0, 12) + ") in " + seconds(value("duration_ms")));
    break;
  case engine::StepState::skipped: print(tag + "skipped: " + s.text); break;
  case engine::StepState::started:
  case engine::StepState::cached: break;
  }
}

} // namespace akbuild::cli
