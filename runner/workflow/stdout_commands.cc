#include "runner/workflow/stdout_commands.hh"

namespace akbuild::workflow {

namespace {

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

// %25 last: "%250A" is the text "%0A", not a newline.
std::string unescape_data(std::string s) {
  s = replace_all(std::move(s), "%0D", "\r");
  s = replace_all(std::move(s), "%0A", "\n");
  return replace_all(std::move(s), "%25", "%");
}

std::string unescape_property(std::string s) {
  s = replace_all(std::move(s), "%3A", ":");
  s = replace_all(std::move(s), "%2C", ",");
  return unescape_data(std::move(s));
}

} // namespace

std::optional<StdoutCommand> parse_stdout_command(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  if (!line.starts_with("::")) return std::nullopt;
  std::size_t end = line.find("::", 2);
  if (end == std::string_view::npos || end == 2) return std::nullopt;
  std::string_view head = line.substr(2, end - 2);
  StdoutCommand c;
  std::size_t space = head.find(' ');
  c.name = std::string(head.substr(0, space));
  if (space != std::string_view::npos) {
    std::string_view props = head.substr(space + 1);
    while (!props.empty()) {
      std::size_t comma = props.find(',');
      std::string_view kv = props.substr(0, comma);
      if (auto eq = kv.find('='); eq != std::string_view::npos && kv.find('=', eq + 1) == std::string_view::npos)
        c.props[std::string(kv.substr(0, eq))] = unescape_property(std::string(kv.substr(eq + 1)));
      if (comma == std::string_view::npos) break;
      props.remove_prefix(comma + 1);
    }
  }
  c.data = unescape_data(std::string(line.substr(end + 2)));
  return c;
}

std::optional<StdoutCommand> StdoutCommands::feed(std::string_view line) {
  auto c = parse_stdout_command(line);
  if (!c) return std::nullopt;
  if (!m_resume.empty()) {
    if (c->name != m_resume) return std::nullopt;
    m_resume.clear();
    return std::nullopt;
  }
  if (c->name == "stop-commands") {
    m_resume = c->data;
    return std::nullopt;
  }
  return c;
}

} // namespace akbuild::workflow
