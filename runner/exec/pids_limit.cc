#include "runner/exec/pids_limit.hh"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <mutex>
#include <cerrno>
#include <fstream>
#include <string>
#include <vector>

#include "runner/exec/cgroup_files.hh"

namespace akbuild::exec {

namespace fs = std::filesystem;

namespace {

// The places a step's cgroup may go: under this process's own cgroup, in the v1 pids hierarchy
// or in v2 (where the pids controller must be enabled for children).
std::vector<fs::path> candidate_parents() {
  std::vector<fs::path> out;
  if (auto v1 = own_cgroup("pids")) out.push_back(fs::path("/sys/fs/cgroup/pids") / fs::path(*v1).relative_path());
  if (auto v2 = own_cgroup("")) {
    for (const char* root : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
      fs::path parent = fs::path(root) / fs::path(*v2).relative_path();
      std::error_code ec;
      if (!fs::exists(parent / "cgroup.subtree_control", ec)) continue;
      write_cgroup_file(parent / "cgroup.subtree_control", "+pids");  // refused when already on, or not allowed
      out.push_back(parent);
    }
  }
  return out;
}

// Removes the cgroups left by akbuild processes that were killed before removing their own
// (akbuild-<pid>-<n> whose pid is gone); one still holding processes stays (rmdir refuses).
void remove_stale(const fs::path& parent) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(parent, ec)) {
    std::string name = e.path().filename().string();
    if (name.rfind("akbuild-", 0) != 0) continue;
    pid_t pid = static_cast<pid_t>(std::strtol(name.c_str() + 8, nullptr, 10));
    if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) ::rmdir(e.path().c_str());
  }
}

} // namespace

std::optional<PidsCgroup> PidsCgroup::create(unsigned max) {
  static std::atomic<unsigned> counter{0};
  static std::once_flag cleaned;
  auto parents = candidate_parents();
  std::call_once(cleaned, [&] {
    for (const auto& parent : parents) remove_stale(parent);
  });
  for (const auto& parent : parents) {
    fs::path dir = parent / ("akbuild-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    if (::mkdir(dir.c_str(), 0755) != 0) continue;
    UniqueFd procs(::open((dir / "cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
    if (procs && write_cgroup_file(dir / "pids.max", std::to_string(max))) return PidsCgroup(dir, std::move(procs));
    ::rmdir(dir.c_str());
  }
  return std::nullopt;
}

PidsCgroup::~PidsCgroup() {
  if (m_dir.empty()) return;
  m_procs.reset();
  // Killed processes leave the cgroup once reaped, which may take a moment.
  for (int i = 0; i < 50 && ::rmdir(m_dir.c_str()) != 0 && errno == EBUSY; ++i) ::usleep(10000);
}

} // namespace akbuild::exec
