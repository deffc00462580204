#pragma once
// The programs a step declares: resolved on the host PATH and keyed by path, content digest and
// version line, and a program inside node_modules also by what is installed there. Digests go
// through the stat cache; version lines (`<tool> --version`, first line)
// are remembered per digest under <cache>/tools/, so an unchanged tool is not run again.

#include <filesystem>
#include <optional>
#include <string>

#include "runner/core/result.hh"

namespace akbuild::cas {
class CacheDir;
}

namespace akbuild::engine {

struct ToolInfo {
  std::string name;
  std::filesystem::path path;       // absolute, as found on PATH
  std::filesystem::path real_path;  // symlinks resolved
  std::string digest;               // sha256 hex of the binary (of real_path)
  std::string version;              // first line of `--version`, may be empty
  // For a program installed by npm: the node_modules tree it runs with (its dependencies are
  // siblings there), and a digest of what is installed in it. Empty otherwise.
  std::filesystem::path node_modules;
  std::string node_modules_digest;
};

// The outermost node_modules directory `path` lies in, if any.
std::optional<std::filesystem::path> enclosing_node_modules(const std::filesystem::path& path);

// Resolves `name` (a bare name searched on `path_env`, or a path) by runner/core/program_path.hh's
// rule; its errors name the tool.
Result<ToolInfo> resolve_tool(std::string_view name, std::string_view path_env, cas::CacheDir& cache);

} // namespace akbuild::engine
