#pragma once
// Workflow commands a step prints on stdout, as GitHub's runner and act read them:
//
//   line     = "::" name [ " " props ] "::" data
//   props    = prop *( "," prop )        prop = key "=" value
//
// `data` is unescaped (%25 %0D %0A), property values too (and %3A %2C). The deprecated
// `set-output`, `set-env`, `add-path` and `save-state` still act; `stop-commands::TOKEN` turns
// them off until a line `::TOKEN::`.

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace akbuild::workflow {

struct StdoutCommand {
  std::string name;                            // "set-output", "warning", ...
  std::map<std::string, std::string> props;    // name=..., file=...
  std::string data;
};

// The command on `line`, or nullopt when the line is not one.
std::optional<StdoutCommand> parse_stdout_command(std::string_view line);

// Follows `stop-commands`: feed every line; a command comes back only while commands are on.
class StdoutCommands {
public:
  std::optional<StdoutCommand> feed(std::string_view line);

private:
  std::string m_resume;  // the token that turns commands back on; empty while they are on
};

} // namespace akbuild::workflow
