#pragma once
// Checks every kind applies to its `with:` paths before planning: globs that parse, output paths
// that stay inside the workspace. Errors are invalid_argument naming the kind, the key and the
// value: "exec: with: outputs: '../x' leaves the workspace".

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "runner/core/result.hh"

namespace akbuild::steps {

// Every pattern parses as a workspace glob (runner/core/glob.hh).
Result<> validate_globs(std::string_view kind, std::string_view key, const std::vector<std::string>& patterns);

// An output path: relative, no `..`, `.` or empty components, and no existing component of it in
// `workspace` is a symlink (so materializing it cannot write outside the workspace). A trailing
// '/' (a directory) is kept.
Result<> validate_output_path(std::string_view kind, std::string_view key, std::string_view value,
                              const std::filesystem::path& workspace);

// A relative directory inside the workspace (working_directory); empty is the workspace itself.
Result<> validate_relative_dir(std::string_view kind, std::string_view key, std::string_view value);

// An SRI hash as pins use it: "sha256-" followed by 44 base64 characters.
Result<> validate_sri(std::string_view kind, std::string_view key, std::string_view value);

} // namespace akbuild::steps
