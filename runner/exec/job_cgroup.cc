#include "runner/exec/job_cgroup.hh"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <fstream>

#include <fmt/core.h>

#include "runner/exec/cgroup_files.hh"

namespace akbuild::exec {

namespace fs = std::filesystem;

namespace {

// The parent dirs job cgroups go in: v2 when its root has the controllers, else v1 hierarchies.
struct Parents {
  std::optional<fs::path> v2;
  std::optional<fs::path> pids, memory, cpu;
};

Parents parents() {
  Parents p;
  if (auto own = own_cgroup("")) {
    fs::path dir = fs::path("/sys/fs/cgroup") / fs::path(*own).relative_path();
    std::ifstream controllers(dir / "cgroup.controllers");
    std::string line;
    if (std::getline(controllers, line) && line.find("pids") != std::string::npos) {
      write_cgroup_file(dir / "cgroup.subtree_control", "+pids +memory +cpu");
      p.v2 = dir;
      return p;
    }
  }
  auto v1 = [](const std::string& c) -> std::optional<fs::path> {
    auto own = own_cgroup(c);
    if (!own) return std::nullopt;
    fs::path dir = fs::path("/sys/fs/cgroup") / c / fs::path(*own).relative_path();
    if (::access(dir.c_str(), W_OK) != 0) return std::nullopt;
    return dir;
  };
  p.pids = v1("pids");
  p.memory = v1("memory");
  p.cpu = v1("cpu");
  return p;
}

std::vector<pid_t> procs_of(const fs::path& dir) {
  std::vector<pid_t> out;
  std::ifstream in(dir / "cgroup.procs");
  for (long pid; in >> pid;) out.push_back(static_cast<pid_t>(pid));
  return out;
}

// cgroup.kill (v2, Linux 5.14) kills the whole cgroup at once; else each process in turn.
void kill_in(const fs::path& dir) {
  if (write_cgroup_file(dir / "cgroup.kill", "1")) return;
  for (pid_t pid : procs_of(dir)) ::kill(pid, SIGKILL);
}

void kill_and_remove(const fs::path& dir) {
  for (int i = 0; i < 100; ++i) {
    kill_in(dir);
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return;
    ::usleep(10000);
  }
}

constexpr std::uint64_t k_cpu_period_us = 100000;

} // namespace

Result<JobCgroup> JobCgroup::create(const std::string& name, const CgroupLimits& limits) {
  Parents p = parents();
  JobCgroup cg;
  auto make = [&](const fs::path& parent) -> Result<fs::path> {
    fs::path dir = parent / name;
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return fail(errno_error("mkdir " + dir.string()));
    cg.m_dirs.push_back(dir);
    UniqueFd procs(::open((dir / "cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
    if (!procs) return fail(errno_error(dir.string() + "/cgroup.procs"));
    cg.m_procs.push_back(std::move(procs));
    return dir;
  };
  auto set = [](const fs::path& file, const std::string& value) -> Result<> {
    if (!write_cgroup_file(file, value))
      return fail(ErrorCode::failed_precondition, fmt::format("{}: cannot set {}", file.string(), value));
    return ok();
  };
  auto quota = [&] { return static_cast<std::uint64_t>(std::ceil(*limits.cpus * k_cpu_period_us)); };
  if (p.v2) {
    fs::path dir = AK_TRY(make(*p.v2));
    if (limits.max_pids) AK_TRY_VOID(set(dir / "pids.max", std::to_string(limits.max_pids)));
    if (limits.memory_bytes) AK_TRY_VOID(set(dir / "memory.max", std::to_string(*limits.memory_bytes)));
    if (limits.cpus) AK_TRY_VOID(set(dir / "cpu.max", fmt::format("{} {}", quota(), k_cpu_period_us)));
    return cg;
  }
  if (!p.pids) return fail(ErrorCode::failed_precondition, "cgroups: no writable pids hierarchy here");
  fs::path pids = AK_TRY(make(*p.pids));
  if (limits.max_pids) AK_TRY_VOID(set(pids / "pids.max", std::to_string(limits.max_pids)));
  if (limits.memory_bytes) {
    if (!p.memory) return fail(ErrorCode::failed_precondition, "backend option memory: no writable memory cgroup here");
    fs::path dir = AK_TRY(make(*p.memory));
    AK_TRY_VOID(set(dir / "memory.limit_in_bytes", std::to_string(*limits.memory_bytes)));
  }
  if (limits.cpus) {
    if (!p.cpu) return fail(ErrorCode::failed_precondition, "backend option cpus: no writable cpu cgroup here");
    fs::path dir = AK_TRY(make(*p.cpu));
    AK_TRY_VOID(set(dir / "cpu.cfs_period_us", std::to_string(k_cpu_period_us)));
    AK_TRY_VOID(set(dir / "cpu.cfs_quota_us", std::to_string(quota())));
  }
  return cg;
}

JobCgroup::~JobCgroup() {
  m_procs.clear();
  for (const auto& dir : m_dirs) kill_and_remove(dir);
}

std::vector<int> JobCgroup::procs_fds() const {
  std::vector<int> fds;
  for (const auto& fd : m_procs) fds.push_back(fd.get());
  return fds;
}

void JobCgroup::kill_all() {
  for (int i = 0; i < 100 && populated(); ++i) {
    for (const auto& dir : m_dirs) kill_in(dir);
    ::usleep(10000);
  }
}

bool JobCgroup::populated() const {
  for (const auto& dir : m_dirs)
    if (!procs_of(dir).empty()) return true;
  return false;
}

void remove_stale_job_cgroups(const std::string& prefix) {
  Parents p = parents();
  for (const auto& parent : {p.v2, p.pids, p.memory, p.cpu}) {
    if (!parent) continue;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(*parent, ec))
      if (e.path().filename().string().rfind(prefix, 0) == 0) kill_and_remove(e.path());
  }
}

} // namespace akbuild::exec
