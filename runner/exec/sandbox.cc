#include "runner/exec/sandbox.hh"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <optional>

#include <fmt/core.h>

#include "runner/core/fs.hh"
#include "runner/core/log.hh"
#include "runner/core/program_path.hh"
#include "runner/exec/memory_file.hh"
#include "runner/exec/stage.hh"

namespace akbuild::exec {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr const char* k_default_path = "/usr/local/bin:/usr/bin:/bin";
const fs::path k_ws = "/build/ws";
const fs::path k_home = "/build/home";
const fs::path k_script = "/build/script";  // a shell step's script, copied in from memory
constexpr unsigned k_build_uid = 65534;     // nobody, as the step sees itself when run by root
// System directories visible read-only inside the sandbox (symlinked ones recreated as links).
const std::vector<fs::path> k_system_dirs = {"/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"};
// /etc entries a build may need: users and groups, name service, the loader cache, TLS roots
// (not /etc/ssl/private: as root the step's files map to the caller's, so it could read them).
const std::vector<fs::path> k_etc = {"/etc/passwd",       "/etc/group",       "/etc/hosts",
                                     "/etc/nsswitch.conf", "/etc/ld.so.cache", "/etc/ld.so.conf",
                                     "/etc/ld.so.conf.d", "/etc/ssl/certs",   "/etc/ca-certificates",
                                     "/etc/alternatives", "/etc/localtime"};

// The bubblewrap binary: $AKBUILD_BWRAP (a path or a name) or `bwrap` on the caller's PATH.
Result<fs::path> bwrap_path() {
  const char* configured = std::getenv("AKBUILD_BWRAP");
  const char* path = std::getenv("PATH");
  return find_program(configured && *configured ? configured : "bwrap", path ? path : k_default_path);
}

// The namespaces and credentials of every sandbox, the probe's too, so a bwrap that cannot
// give them is no sandbox at all. No capability survives in any namespace. As root the step runs
// as k_build_uid in a user namespace mapping that id to the caller: without capabilities it
// cannot remount or mount anything, and the files it writes belong to the caller on the host.
std::vector<std::string> isolation_args(const fs::path& bwrap) {
  std::vector<std::string> a = {bwrap.string(), "--unshare-all"};
  if (::geteuid() == 0)
    a.insert(a.end(), {"--unshare-user", "--uid", std::to_string(k_build_uid), "--gid", std::to_string(k_build_uid)});
  a.insert(a.end(), {"--cap-drop", "ALL"});
  return a;
}

struct Probe {
  bool ok = false;
  std::string why;
};

Probe probe(const fs::path& bwrap) {
  ProcessSpec spec;
  spec.argv = isolation_args(bwrap);
  spec.argv.insert(spec.argv.end(), {"--die-with-parent", "--ro-bind", "/", "/", "true"});
  spec.env = {{"PATH", "/usr/bin:/bin"}};
  spec.timeout = 30s;
  spec.kill_grace = 1s;
  std::string err;
  auto r = run_process(spec, [&](const LogLine& l) {
    if (l.stream == LogLine::Stream::err && err.size() < 500) err += (err.empty() ? "" : "; ") + l.text;
  });
  if (!r) return {false, r.error().message};
  if (!r->success())
    return {false, fmt::format("{} {}{}", bwrap.string(), r->describe(), err.empty() ? "" : ": " + err)};
  return {true, {}};
}

struct Output {
  std::string rel;  // without trailing slash
  bool dir = false;
};

bool is_dir_nofollow(const fs::path& p) {
  struct stat st{};
  return ::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The declared outputs, validated; an output inside another declared directory output is
// covered by that one and dropped.
Result<std::vector<Output>> plan_outputs(const SandboxSpec& s) {
  std::vector<Output> all;
  for (const auto& o : s.outputs) {
    if (!is_contained_relative_path(o))
      return fail(ErrorCode::invalid_argument, fmt::format("output path {}: escapes the workspace", o));
    Output out;
    out.rel = strip_trailing_slashes(o);
    out.dir = o.back() == '/' || is_dir_nofollow(s.output_root / out.rel) || is_dir_nofollow(s.input_root / out.rel);
    if (out.rel == "." || out.rel.empty())
      return fail(ErrorCode::invalid_argument, fmt::format("output path {}: is the whole workspace", o));
    all.push_back(out);
  }
  std::sort(all.begin(), all.end(), [](const Output& a, const Output& b) { return a.rel < b.rel; });
  std::vector<Output> top;
  for (const auto& o : all) {
    bool covered = std::any_of(top.begin(), top.end(), [&](const Output& t) { return t.dir && path_within(o.rel, t.rel); });
    if (!covered) top.push_back(o);
  }
  return top;
}

// Creates every declared output in output_root (directories; file parents) so bind sources exist.
Result<> create_output_dirs(const SandboxSpec& s) {
  AK_TRY_VOID(make_dirs(s.output_root));
  for (const auto& o : s.outputs) {
    std::string rel = strip_trailing_slashes(o);
    bool dir = o.back() == '/' || is_dir_nofollow(s.output_root / rel) || is_dir_nofollow(s.input_root / rel);
    AK_TRY_VOID(make_dirs_within(s.output_root, dir ? rel : fs::path(rel).parent_path().string()));
  }
  return ok();
}

// Removes whatever the input root holds at `p` (a staged input shadowed by an output).
Result<> clear_path(const fs::path& p) {
  struct stat st{};
  if (::lstat(p.c_str(), &st) != 0) return ok();
  if (S_ISDIR(st.st_mode)) return remove_tree(p);
  if (::unlink(p.c_str()) != 0) return fail(errno_error(fmt::format("remove {}", p.string())));
  return ok();
}

// A file output is bind-mounted from a placeholder with mtime 0; still empty with mtime 0 after
// the run means the step did not write it, and the placeholder is removed.
Result<> create_placeholder(const fs::path& p) {
  struct stat st{};
  if (::lstat(p.c_str(), &st) == 0) {
    if (S_ISREG(st.st_mode)) return ok();
    return fail(ErrorCode::failed_precondition, fmt::format("{}: exists and is not a regular file", p.string()));
  }
  auto fd = AK_TRY(open_fd(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644));
  struct timespec times[2] = {{0, 0}, {0, 0}};
  if (::futimens(fd.get(), times) != 0) return fail(errno_error(fmt::format("utimens {}", p.string())));
  return ok();
}

void remove_unwritten_placeholder(const fs::path& p) {
  struct stat st{};
  if (::lstat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0 && st.st_mtim.tv_sec == 0)
    ::unlink(p.c_str());
}

// The working directory must exist once outputs are in place (it may lie inside one).
Result<> check_working_directory(const SandboxSpec& s, const fs::path& wd_host) {
  std::error_code ec;
  if (fs::is_directory(wd_host, ec)) return ok();
  return fail(ErrorCode::not_found,
              fmt::format("working directory {}: not a directory in the input root", s.working_directory));
}

// Fails naming argv[0] when it is not found inside the sandbox, judged from the host paths the
// sandbox exposes, so a typo is an error and not an exit status from bwrap.
Result<> check_program(const SandboxSpec& s, const ProcessSpec& p, const fs::path& wd_host) {
  const std::string& program = p.argv[0];
  std::vector<std::string> visible;
  for (const auto& d : k_system_dirs) visible.push_back(d.string());
  for (const auto& d : s.ro_binds) visible.push_back(d.string());
  auto host_view = [&](const fs::path& inside) -> std::optional<fs::path> {
    std::string in = inside.lexically_normal().string();
    for (const auto& d : s.input_dirs)
      if (path_within(in, (k_ws / d.rel).string())) return d.host / fs::path(in).lexically_relative(k_ws / d.rel);
    if (path_within(in, k_ws.string())) return s.input_root / fs::path(in).lexically_relative(k_ws);
    for (const auto& v : visible)
      if (path_within(in, v)) return fs::path(in);
    return std::nullopt;
  };
  if (program.find('/') != std::string::npos) {
    fs::path host = fs::path(program).is_absolute() ? host_view(program).value_or(fs::path()) : wd_host / program;
    if (!host.empty() && find_program(host.string(), "")) return ok();
    return fail(ErrorCode::not_found, fmt::format("{}: no such executable inside the sandbox", program));
  }
  auto path_it = p.env.find("PATH");
  std::string path = path_it == p.env.end() ? k_default_path : path_it->second;
  std::string host_path;
  for (std::string_view dir : search_dirs(path))
    if (auto host = host_view(fs::path(dir))) host_path += (host_path.empty() ? "" : ":") + host->string();
  auto found = find_program(program, host_path);
  if (!found && found.error().code == ErrorCode::not_found)
    return fail(ErrorCode::not_found, fmt::format("{}: not found on PATH ({}) inside the sandbox", program, path));
  if (!found) return fail(found.error());
  return ok();
}

// The bwrap command line; `script_fd` (or -1) holds the script hide_shell_script moved out of
// p.argv. The environment is not in it: bwrap passes its own on, and argv is world-readable.
Result<std::vector<std::string>> bwrap_command(const fs::path& bwrap, const SandboxSpec& s,
                                               const std::vector<Output>& outputs, const ProcessSpec& p,
                                               int script_fd) {
  std::vector<std::string> a = isolation_args(bwrap);
  if (s.network) a.push_back("--share-net");
  // No --new-session: the child already runs in a new session without a controlling terminal
  // (run_process calls setsid), and the sandbox must stay in that process group to be killable.
  a.insert(a.end(), {"--die-with-parent", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"});
  for (const auto& d : k_system_dirs) {
    struct stat st{};
    if (::lstat(d.c_str(), &st) != 0) continue;
    if (S_ISLNK(st.st_mode)) {
      std::error_code ec;
      auto target = fs::read_symlink(d, ec);
      if (!ec) a.insert(a.end(), {"--symlink", target.string(), d.string()});
    } else if (S_ISDIR(st.st_mode)) {
      a.insert(a.end(), {"--ro-bind", d.string(), d.string()});
    }
  }
  for (const auto& e : k_etc) a.insert(a.end(), {"--ro-bind-try", e.string(), e.string()});
  if (s.network) a.insert(a.end(), {"--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf"});
  for (const auto& r : s.ro_binds) {
    if (!r.is_absolute())
      return fail(ErrorCode::invalid_argument, fmt::format("sandbox bind {}: not absolute", r.string()));
    std::error_code ec;
    if (!fs::exists(r, ec)) return fail(ErrorCode::not_found, fmt::format("sandbox bind {}: no such path", r.string()));
    // Already visible through a system directory (binding over /bin, a symlink there, would fail).
    bool covered = std::any_of(k_system_dirs.begin(), k_system_dirs.end(),
                               [&](const fs::path& d) { return path_within(r.lexically_normal().string(), d.string()); });
    if (!covered) a.insert(a.end(), {"--ro-bind", r.string(), r.string()});
  }
  a.insert(a.end(), {"--ro-bind", s.input_root.string(), k_ws.string()});
  for (const auto& d : s.input_dirs) {
    if (d.fd >= 0) a.insert(a.end(), {"--ro-bind-fd", std::to_string(d.fd), (k_ws / d.rel).string()});
    else a.insert(a.end(), {"--ro-bind", d.host.string(), (k_ws / d.rel).string()});
  }
  for (const auto& o : outputs)
    a.insert(a.end(), {"--bind", (s.output_root / o.rel).string(), (k_ws / o.rel).string()});
  a.insert(a.end(), {"--tmpfs", k_home.string()});
  fs::path wd = s.working_directory.empty() ? k_ws : (k_ws / s.working_directory).lexically_normal();
  if (script_fd >= 0) a.insert(a.end(), {"--perms", "0444", "--file", std::to_string(script_fd), k_script.string()});
  a.insert(a.end(), {"--chdir", wd.string()});
  a.push_back("--");
  a.insert(a.end(), p.argv.begin(), p.argv.end());
  return a;
}

// Limits the processes `p` may start: a pids cgroup where one can be made, else RLIMIT_NPROC.
std::optional<PidsCgroup> limit_pids(const SandboxSpec& s, ProcessSpec& p) {
  auto cgroup = PidsCgroup::create(s.max_pids);
  if (cgroup) p.cgroup_procs_fds.push_back(cgroup->procs_fd());
  else p.max_processes = s.max_pids;
  return cgroup;
}

Result<SandboxResult> run_in_bwrap(const fs::path& bwrap, const SandboxSpec& s, const std::vector<Output>& outputs,
                                   ProcessSpec p, const LogCallback& on_line, const CancelToken* cancel) {
  std::vector<fs::path> placeholders;
  for (const auto& o : outputs) {
    // bwrap cannot create mount points below the read-only input root: create them first.
    if (o.dir) {
      if (!is_dir_nofollow(s.input_root / o.rel)) AK_TRY_VOID(clear_path(s.input_root / o.rel));
      AK_TRY_VOID(make_dirs_within(s.input_root, o.rel));
    } else {
      AK_TRY_VOID(make_dirs_within(s.input_root, fs::path(o.rel).parent_path().string()));
      if (is_dir_nofollow(s.input_root / o.rel)) AK_TRY_VOID(clear_path(s.input_root / o.rel));
      AK_TRY_VOID(create_placeholder(s.input_root / o.rel));
      AK_TRY_VOID(create_placeholder(s.output_root / o.rel));
      placeholders.push_back(s.output_root / o.rel);
    }
  }
  fs::path wd_host = s.working_directory.empty() ? s.input_root : s.input_root / s.working_directory;
  AK_TRY_VOID(check_working_directory(s, wd_host));
  AK_TRY_VOID(check_program(s, p, wd_host));
  auto script = AK_TRY(hide_shell_script(p.argv, [](int) { return k_script.string(); }));
  ProcessSpec outer;
  outer.argv = AK_TRY(bwrap_command(bwrap, s, outputs, p, script ? script->get() : -1));
  if (script) outer.keep_fds.push_back(script->get());
  for (const auto& d : s.input_dirs)
    if (d.fd >= 0) outer.keep_fds.push_back(d.fd);
  auto pids = limit_pids(s, outer);
  outer.env = std::move(p.env);
  outer.env.try_emplace("PATH", k_default_path);
  outer.env["HOME"] = k_home.string();
  outer.env["TMPDIR"] = "/tmp";
  outer.timeout = p.timeout;
  outer.kill_grace = p.kill_grace;
  outer.stdin_data = std::move(p.stdin_data);
  auto r = run_process(outer, on_line, cancel);
  for (const auto& ph : placeholders) remove_unwritten_placeholder(ph);
  if (!r) return fail(r.error());
  return SandboxResult{*r, true, {}};
}

// Moves a path, copying across filesystems.
Result<> move_path(const fs::path& from, const fs::path& to) {
  AK_TRY_VOID(clear_path(to));
  if (::rename(from.c_str(), to.c_str()) == 0) return ok();
  if (errno != EXDEV) return fail(errno_error(fmt::format("move {} to {}", from.string(), to.string())));
  std::error_code ec;
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
  if (ec) return fail(ErrorCode::io, fmt::format("copy {} to {}: {}", from.string(), to.string(), ec.message()));
  return clear_path(from);
}

// Whether `p` is still the symlink into output_root that run_plain made.
bool is_output_link(const SandboxSpec& s, const Output& o) {
  std::error_code ec;
  fs::path link = s.input_root / o.rel;
  return fs::is_symlink(link, ec) && fs::read_symlink(link, ec) == s.output_root / o.rel;
}

void remove_output_links(const SandboxSpec& s, const std::vector<Output>& outputs) {
  for (const auto& o : outputs)
    if (is_output_link(s, o)) ::unlink((s.input_root / o.rel).c_str());
}

// After a plain run: our symlinks are removed; an output the step put in their place (by
// rename) is moved into output_root.
Result<> collect_plain_outputs(const SandboxSpec& s, const std::vector<Output>& outputs) {
  for (const auto& o : outputs) {
    fs::path in_root = s.input_root / o.rel;
    struct stat st{};
    if (::lstat(in_root.c_str(), &st) != 0) continue;
    if (is_output_link(s, o)) {
      ::unlink(in_root.c_str());
      continue;
    }
    AK_TRY_VOID(move_path(in_root, s.output_root / o.rel));
  }
  return ok();
}

// The fallback without namespaces. It runs in the input root itself; each declared output there
// is a symlink into output_root, so writes through the path land in output_root, and an output
// the step replaced by rename (the symlink itself replaced) is moved there afterwards. Nothing
// keeps the step from reading or writing other paths: that is what the warning says.
Result<SandboxResult> run_plain(const SandboxSpec& s, const std::vector<Output>& outputs, ProcessSpec p,
                                const LogCallback& on_line, const CancelToken* cancel, std::string reason) {
  // No mount namespace to bind whole input directories in: they are reached through symlinks.
  for (const auto& d : s.input_dirs) {
    fs::path place = s.input_root / d.rel;
    if (!is_dir_nofollow(place) || ::rmdir(place.c_str()) != 0 || ::symlink(d.host.c_str(), place.c_str()) != 0)
      return fail(errno_error(fmt::format("input directory {}: symlink", d.rel)));
  }
  for (const auto& o : outputs) {
    AK_TRY_VOID(make_dirs_within(s.input_root, fs::path(o.rel).parent_path().string()));
    AK_TRY_VOID(clear_path(s.input_root / o.rel));
    fs::path target = s.output_root / o.rel;
    if (::symlink(target.c_str(), (s.input_root / o.rel).c_str()) != 0)
      return fail(errno_error(fmt::format("output {}: symlink", o.rel)));
  }
  fs::path wd_host = s.working_directory.empty() ? s.input_root : s.input_root / s.working_directory;
  if (auto wd_ok = check_working_directory(s, wd_host); !wd_ok) {
    remove_output_links(s, outputs);
    return fail(wd_ok.error());
  }
  auto scratch = AK_TRY(TempDir::create("akbuild-step-"));
  AK_TRY_VOID(make_dirs(scratch.path() / "home"));
  AK_TRY_VOID(make_dirs(scratch.path() / "tmp"));
  p.env.try_emplace("PATH", k_default_path);
  p.env["HOME"] = (scratch.path() / "home").string();
  p.env["TMPDIR"] = (scratch.path() / "tmp").string();
  p.cwd = wd_host;
  auto script = AK_TRY(hide_shell_script(p.argv, [](int fd) { return "/dev/fd/" + std::to_string(fd); }));
  if (script) p.keep_fds.push_back(script->get());
  auto pids = limit_pids(s, p);
  auto r = run_process(p, on_line, cancel);
  AK_TRY_VOID(collect_plain_outputs(s, outputs));
  if (!r) return fail(r.error());
  return SandboxResult{*r, false, std::move(reason)};
}

} // namespace

Result<std::vector<std::string>> job_sandbox_argv(const JobSandboxSpec& spec, const std::vector<std::string>& argv) {
  std::string why;
  if (!sandbox_available(&why))
    return fail(ErrorCode::failed_precondition, fmt::format("bubblewrap cannot run here: {}", why));
  auto bwrap = AK_TRY(bwrap_path());
  std::vector<std::string> a = isolation_args(bwrap);
  if (spec.network) a.push_back("--share-net");
  a.insert(a.end(), {"--die-with-parent", "--proc", "/proc", "--dev", "/dev"});
  for (const auto& d : k_system_dirs) {
    struct stat st{};
    if (::lstat(d.c_str(), &st) != 0) continue;
    std::error_code ec;
    if (S_ISLNK(st.st_mode)) {
      auto target = fs::read_symlink(d, ec);
      if (!ec) a.insert(a.end(), {"--symlink", target.string(), d.string()});
    } else if (S_ISDIR(st.st_mode)) {
      a.insert(a.end(), {"--ro-bind", d.string(), d.string()});
    }
  }
  a.insert(a.end(), {"--ro-bind-try", "/nix", "/nix"});
  for (const auto& e : k_etc) a.insert(a.end(), {"--ro-bind-try", e.string(), e.string()});
  if (spec.network) a.insert(a.end(), {"--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf"});
  for (const auto& b : spec.binds) {
    std::error_code ec;
    if (!fs::exists(b.host, ec))
      return fail(ErrorCode::not_found, fmt::format("sandbox bind {}: no such path", b.host.string()));
    a.insert(a.end(), {b.writable ? "--bind" : "--ro-bind", b.host.string(), b.inside.string()});
  }
  if (!spec.chdir.empty()) a.insert(a.end(), {"--chdir", spec.chdir.string()});
  a.push_back("--");
  a.insert(a.end(), argv.begin(), argv.end());
  return a;
}

std::optional<fs::path> job_sandbox_host_path(const JobSandboxSpec& spec, const fs::path& inside) {
  std::string in = inside.lexically_normal().string();
  // Later binds are mounted over earlier ones: the last that holds the path shows it.
  for (auto it = spec.binds.rbegin(); it != spec.binds.rend(); ++it)
    if (path_within(in, it->inside.string())) return it->host / fs::path(in).lexically_relative(it->inside);
  for (const auto& d : k_system_dirs)
    if (path_within(in, d.string())) return fs::path(in);
  if (path_within(in, "/nix")) return fs::path(in);
  return std::nullopt;
}

bool sandbox_available(std::string* why) {
  static std::mutex mutex;
  static std::map<std::string, Probe> probes;  // by bwrap path, probed once each
  auto bwrap = bwrap_path();
  if (!bwrap) {
    if (why) *why = "bubblewrap: " + bwrap.error().message;
    return false;
  }
  std::lock_guard lock(mutex);
  auto it = probes.find(bwrap->string());
  if (it == probes.end()) it = probes.emplace(bwrap->string(), probe(*bwrap)).first;
  if (!it->second.ok && why) *why = it->second.why;
  return it->second.ok;
}

Result<SandboxResult> run_sandboxed(const SandboxSpec& sandbox, ProcessSpec process, const LogCallback& on_line,
                                    const CancelToken* cancel) {
  if (process.argv.empty() || process.argv[0].empty()) return fail(ErrorCode::invalid_argument, "empty command line");
  if (!sandbox.working_directory.empty() && sandbox.working_directory != "." &&
      !is_contained_relative_path(sandbox.working_directory))
    return fail(ErrorCode::invalid_argument,
                fmt::format("working directory {}: escapes the workspace", sandbox.working_directory));
  SandboxSpec s = sandbox;
  std::error_code ec;
  s.input_root = fs::absolute(s.input_root, ec).lexically_normal();
  s.output_root = fs::absolute(s.output_root, ec).lexically_normal();
  if (!is_dir_nofollow(s.input_root))
    return fail(ErrorCode::not_found, fmt::format("input root {}: not a directory", s.input_root.string()));
  if (s.output_root.empty() || s.output_root == s.input_root)
    return fail(ErrorCode::invalid_argument, "sandbox: output root must be a directory apart from the input root");
  auto outputs = AK_TRY(plan_outputs(s));
  AK_TRY_VOID(create_output_dirs(s));

  if (s.mode == SandboxMode::off) return run_plain(s, outputs, std::move(process), on_line, cancel, "sandbox off");
  std::string why;
  if (!sandbox_available(&why)) {
    if (s.mode == SandboxMode::require)
      return fail(ErrorCode::failed_precondition,
                  fmt::format("sandbox required, but bubblewrap cannot run here: {}", why));
    static std::atomic<bool> warned{false};
    if (!warned.exchange(true))
      log_warning("bubblewrap cannot run here ({}); steps run as plain processes without a sandbox{}", why,
                  ::geteuid() == 0 ? ", as root" : "");
    return run_plain(s, outputs, std::move(process), on_line, cancel, why);
  }
  auto bwrap = AK_TRY(bwrap_path());
  return run_in_bwrap(bwrap, s, outputs, std::move(process), on_line, cancel);
}

} // namespace akbuild::exec
