#pragma once
// Tools the build kinds call: a check that a program is on PATH before anything runs, whose
// error names the program and the package that provides it, and a tool's `--version` output.

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "runner/core/result.hh"

namespace akbuild::steps {

// "Debian package golang-go", "npm package esbuild", ... for a program name; empty if unknown.
std::string tool_provider(std::string_view program);

// The program's path on $PATH, or failed_precondition:
// "go-build: go not found on PATH (install the Debian package golang-go)". With `toolchains`
// (the step names toolchain steps, which may provide it) a program missing here is no error: the
// bare name comes back, and the engine resolves it, toolchains first, when it keys the step.
Result<std::filesystem::path> require_tool(std::string_view kind, std::string_view program, bool toolchains = false);

// The first non-empty line the program prints for `args` (stdout and stderr), run with a
// minimal environment; step_failed if it exits non-zero. A native executable's answer is
// remembered while the file is unchanged (same inode, size and times).
Result<std::string> tool_output_line(const std::filesystem::path& program, const std::vector<std::string>& args,
                                     const std::map<std::string, std::string>& env = {});

// "dir/rel" for workspace-relative paths, where dir "" or "." is the workspace itself.
std::string join_rel(std::string_view dir, std::string_view rel);

} // namespace akbuild::steps
