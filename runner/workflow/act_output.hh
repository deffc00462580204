#pragma once
// Output of `akbuild act`, shared by the jobs running in parallel: whole lines, never interleaved,
// every registered secret masked. Plain `[prefix] text` lines (colour codes only for a terminal),
// or one JSON object per line.

#include <functional>
#include <mutex>
#include <ostream>
#include <string>
#include <string_view>

#include "runner/workflow/expr/expr_value.hh"

namespace akbuild::workflow {

class ActOutput {
public:
  // Plain lines keep tools' colour codes only when stdout may have them (core/ansi.hh).
  ActOutput(std::ostream& out, bool json, bool dry_run);
  // Every event (and log line, as a "log" event) goes to `sink`, masked, with its "prefix",
  // instead of `out`.
  void set_sink(std::function<void(const Value&)> sink);

  // `[prefix] text`, one line per line of text (plain mode only).
  void line(std::string_view prefix, std::string_view text);
  // `Error: text` on a line of its own, as act ends a failed run (json: an "error" event).
  void error(std::string_view text);
  // An event: printed as JSON in json mode ({"event": type, ...fields}), as `[prefix] text` otherwise.
  void event(std::string_view type, const Value& fields, std::string_view prefix, std::string_view text);
  // An event only a sink sees (nothing is printed without one).
  void notice(std::string_view type, const Value& fields);
  bool json() const { return m_json; }
  bool dry_run() const { return m_dry_run; }

private:
  std::ostream& m_out;
  bool m_json, m_dry_run, m_colour;
  std::function<void(const Value&)> m_sink;
  std::mutex m_mutex;
};

} // namespace akbuild::workflow
