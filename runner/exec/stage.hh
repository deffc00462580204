#pragma once
// Helpers shared by stage_inputs and the sandbox (internal to runner/exec).

#include <filesystem>
#include <string_view>

#include "runner/core/result.hh"

namespace akbuild::exec {

// Creates `root/rel` and its parents as directories without following any symlink below
// `root`; fails naming the component that exists and is not a directory.
Result<> make_dirs_within(const std::filesystem::path& root, std::string_view rel);

} // namespace akbuild::exec
