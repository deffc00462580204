#include "runner/workflow/act_output.hh"

#include <unistd.h>

#include "runner/core/ansi.hh"
#include "runner/core/log.hh"

namespace akbuild::workflow {

namespace {

void mask_strings(Value& v) {
  if (v.is_string()) v = mask_secrets(v.get_ref<const std::string&>());
  else if (v.is_array() || v.is_object())
    for (auto& item : v) mask_strings(item);
}

} // namespace

ActOutput::ActOutput(std::ostream& out, bool json, bool dry_run)
    : m_out(out), m_json(json), m_dry_run(dry_run), m_colour(colour_wanted(STDOUT_FILENO)) {}

void ActOutput::set_sink(std::function<void(const Value&)> sink) {
  m_sink = std::move(sink);
  m_json = true;
}

void ActOutput::notice(std::string_view type, const Value& fields) {
  if (m_sink) event(type, fields, "", "");
}

void ActOutput::line(std::string_view prefix, std::string_view text) {
  if (m_json) {
    Value fields = {{"prefix", std::string(prefix)}, {"text", std::string(text)}};
    event("log", fields, prefix, text);
    return;
  }
  std::string out;
  std::size_t pos = 0;
  for (;;) {
    std::size_t nl = text.find('\n', pos);
    std::string_view l = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    if (m_dry_run) out += "*DRYRUN* ";
    out += "[" + std::string(prefix) + "] " + std::string(l) + "\n";
    if (nl == std::string_view::npos || nl + 1 == text.size()) break;
    pos = nl + 1;
  }
  std::string masked = mask_secrets(out);
  if (!m_colour) masked = strip_ansi(masked);
  std::lock_guard lock(m_mutex);
  m_out << masked << std::flush;
}

void ActOutput::error(std::string_view text) {
  if (m_json) {
    event("error", {{"text", std::string(text)}}, "", text);
    return;
  }
  std::string masked = mask_secrets((m_dry_run ? "*DRYRUN* Error: " : "Error: ") + std::string(text) + "\n");
  std::lock_guard lock(m_mutex);
  m_out << masked << std::flush;
}

void ActOutput::event(std::string_view type, const Value& fields, std::string_view prefix, std::string_view text) {
  if (!m_json) {
    line(prefix, text);
    return;
  }
  Value obj = {{"event", std::string(type)}};
  if (m_dry_run) obj["dry_run"] = true;
  for (const auto& [k, v] : fields.items()) obj[k] = v;
  // Masked before encoding, where a secret holding '"' or '\\' is still as registered; and
  // after, for object keys (registered in their JSON-escaped form too).
  mask_strings(obj);
  if (m_sink) {
    // A sink has no `[prefix]` to read the step from: it gets the prefix as a field.
    if (!prefix.empty() && !obj.contains("prefix")) obj["prefix"] = mask_secrets(prefix);
    std::lock_guard lock(m_mutex);
    m_sink(obj);
    return;
  }
  std::string masked = mask_secrets(to_json_text(obj)) + "\n";
  std::lock_guard lock(m_mutex);
  m_out << masked << std::flush;
}

} // namespace akbuild::workflow
