#pragma once
// Reading and writing cgroup files, for the pids limit of steps and the cgroups of jobs.

#include <filesystem>
#include <optional>
#include <string>

namespace akbuild::exec {

// This process's cgroup in the hierarchy whose /proc/self/cgroup line names `controller`
// ("" for cgroup v2's "0::" line).
std::optional<std::string> own_cgroup(const std::string& controller);

// Writes `text` to a cgroup control file; whether the kernel took it.
bool write_cgroup_file(const std::filesystem::path& file, const std::string& text);

} // namespace akbuild::exec
