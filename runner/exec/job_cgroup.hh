#pragma once
// The cgroups of one job environment (runner/plugin): every process the job starts joins them,
// so its limits hold for the whole job and whatever is left of it can be killed at once, even
// processes that left their process group. cgroup v2 (one dir: pids.max, memory.max, cpu.max),
// else the v1 pids, memory and cpu hierarchies, under this process's own cgroups.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "runner/core/fs.hh"

namespace akbuild::exec {

struct CgroupLimits {
  unsigned max_pids = 0;                     // 0: no limit
  std::optional<std::uint64_t> memory_bytes;
  std::optional<double> cpus;
};

class JobCgroup {
public:
  // Cgroups named `name` with the limits; failed_precondition when a limit asked for cannot be
  // set here (no writable hierarchy for it).
  static Result<JobCgroup> create(const std::string& name, const CgroupLimits& limits);
  JobCgroup(JobCgroup&&) noexcept = default;
  JobCgroup& operator=(JobCgroup&&) = delete;
  ~JobCgroup();  // kills what is left, then removes the cgroups

  // cgroup.procs files, open for writing: a child writing "0" to each joins them.
  std::vector<int> procs_fds() const;
  // SIGKILLs every process in the cgroups until none is left (at most about a second).
  void kill_all();
  // Whether any process is in the cgroups.
  bool populated() const;

private:
  JobCgroup() = default;
  std::vector<std::filesystem::path> m_dirs;
  std::vector<UniqueFd> m_procs;
};

// Removes cgroups named `<prefix>*` left by a killed daemon, killing their processes first.
void remove_stale_job_cgroups(const std::string& prefix);

} // namespace akbuild::exec
