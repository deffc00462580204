#pragma once
// Scripts kept out of argv. /proc/<pid>/cmdline is readable by every user of the host, so a
// script that may hold a secret (a `${{ secrets.X }}` interpolated into `run:`) travels in an
// anonymous memory file (memfd: never on disk) passed to the child as an open descriptor.

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runner/core/fs.hh"

namespace akbuild::exec {

// A sealed-size anonymous file holding `content`, positioned at its start, close-on-exec.
Result<UniqueFd> memory_file(std::string_view name, std::string_view content);

// For a shell command line `bash|sh [OPTIONS] -c SCRIPT [NAME [ARGS...]]`: moves SCRIPT into a
// memory file and replaces it in argv with `. PATH`, PATH being `path_of(fd)` (where the
// child will see the file). Sourcing keeps the options, $0 and the positional parameters.
// Returns the file, or nothing when argv is not such a command line (argv unchanged).
template <class PathOf>
Result<std::optional<UniqueFd>> hide_shell_script(std::vector<std::string>& argv, PathOf path_of);

// The index of SCRIPT in a shell -c command line, or 0 when argv is not one.
std::size_t shell_script_index(const std::vector<std::string>& argv);

template <class PathOf>
Result<std::optional<UniqueFd>> hide_shell_script(std::vector<std::string>& argv, PathOf path_of) {
  std::size_t i = shell_script_index(argv);
  if (i == 0) return std::optional<UniqueFd>{};
  auto fd = AK_TRY(memory_file("akbuild-script", argv[i]));
  argv[i] = ". " + std::string(path_of(fd.get()));
  return std::optional<UniqueFd>{std::move(fd)};
}

} // namespace akbuild::exec
