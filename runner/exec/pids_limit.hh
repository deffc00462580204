#pragma once
// A limit on the number of processes of one step, so a fork bomb in a build script stops at
// the limit instead of taking the host. A pids cgroup of the step's own (v2 pids.max, or the v1
// pids hierarchy), joined by the child before it executes, where this process may create one
// (root, or a delegated subtree); else RLIMIT_NPROC, which the kernel does not apply to root.

#include <filesystem>
#include <optional>

#include "runner/core/fs.hh"

namespace akbuild::exec {

// Processes a step may have at once unless told otherwise: far above what parallel compilers
// and test runners start, far below what hurts a host.
inline constexpr unsigned k_default_max_pids = 4096;

class PidsCgroup {
public:
  // A fresh pids cgroup allowing `max` processes, or nullopt when none can be made here.
  static std::optional<PidsCgroup> create(unsigned max);
  PidsCgroup(PidsCgroup&& o) noexcept : m_dir(std::move(o.m_dir)), m_procs(std::move(o.m_procs)) { o.m_dir.clear(); }
  PidsCgroup& operator=(PidsCgroup&&) = delete;
  ~PidsCgroup();  // removes the cgroup (its processes are gone by then)

  // cgroup.procs, open for writing: a child writing "0" to it joins the cgroup.
  int procs_fd() const { return m_procs.get(); }

private:
  PidsCgroup(std::filesystem::path dir, UniqueFd procs) : m_dir(std::move(dir)), m_procs(std::move(procs)) {}
  std::filesystem::path m_dir;
  UniqueFd m_procs;
};

} // namespace akbuild::exec
