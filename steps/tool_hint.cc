#include "steps/tool_hint.hh"

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <optional>
#include <tuple>

#include <sys/stat.h>

#include <fmt/format.h>

#include "runner/core/fs.hh"
#include "runner/core/program_path.hh"
#include "runner/exec/process.hh"

namespace akbuild::steps {

std::string tool_provider(std::string_view program) {
  static const std::map<std::string, std::string, std::less<>> k_providers = {
      {"bash", "Debian package bash"},
      {"esbuild", "npm package esbuild"},
      {"git", "Debian package git"},
      {"go", "Debian package golang-go"},
      {"gofmt", "Debian package golang-go"},
      {"java", "Debian package openjdk-17-jre-headless"},
      {"node", "Debian package nodejs"},
      {"npm", "Debian package npm"},
      {"npx", "Debian package npm"},
      {"openapi-generator-cli", "npm package @openapitools/openapi-generator-cli"},
      {"openapi-ts", "npm package @hey-api/openapi-ts"},
      {"openapi-typescript", "npm package openapi-typescript"},
      {"python3", "Debian packages python3 and python3-venv"},
      {"rollup", "npm package rollup"},
      {"tsc", "npm package typescript"},
      {"uv", "uv binary from https://docs.astral.sh/uv/; it is not packaged by Debian or npm"},
  };
  auto base = std::filesystem::path(program).filename().string();
  auto it = k_providers.find(base);
  return it == k_providers.end() ? std::string() : it->second;
}

Result<std::filesystem::path> require_tool(std::string_view kind, std::string_view program, bool toolchains) {
  auto found = find_program(program, host_search_path());
  if (found) return found;
  if (toolchains) return std::filesystem::path(program);
  auto provider = tool_provider(program);
  return fail(ErrorCode::failed_precondition,
              fmt::format("{}: {} not found on PATH{}", kind, program,
                          provider.empty() ? std::string() : " (install the " + provider + ")"));
}

namespace {

// A probe's answer is remembered for the life of the process (a daemon answers many plans) when
// the program is a native executable: its answer then depends on the file itself, identified by
// device, inode, size and both times, and a changed file is asked again. A script (a pyenv shim,
// a wrapper) may answer from other files, so it is always run.
struct ProbeKey {
  dev_t dev;
  ino_t ino;
  off_t size;
  long long mtime_ns, ctime_ns;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  auto operator<=>(const ProbeKey&) const = default;
};

std::optional<ProbeKey> probe_key(const std::filesystem::path& program, const std::vector<std::string>& args,
                                  const std::map<std::string, std::string>& env) {
  struct stat st {};
  if (::stat(program.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  char magic[4] = {};
  std::ifstream in(program, std::ios::binary);
  if (!in.read(magic, 4) || std::string_view(magic, 4) != "\x7f" "ELF") return std::nullopt;
  return ProbeKey{st.st_dev, st.st_ino, st.st_size,
                  st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec,
                  st.st_ctim.tv_sec * 1'000'000'000LL + st.st_ctim.tv_nsec, args, env};
}

std::mutex g_probes_mutex;
std::map<ProbeKey, std::string> g_probes;

} // namespace

Result<std::string> tool_output_line(const std::filesystem::path& program, const std::vector<std::string>& args,
                                     const std::map<std::string, std::string>& env) {
  auto key = probe_key(program, args, env);
  if (key) {
    std::lock_guard lock(g_probes_mutex);
    if (auto it = g_probes.find(*key); it != g_probes.end()) return it->second;
  }
  exec::ProcessSpec spec;
  spec.argv.push_back(program.string());
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  const char* path = std::getenv("PATH");
  const char* home = std::getenv("HOME");
  spec.env = {{"PATH", path ? path : "/usr/bin:/bin"}, {"HOME", home ? home : "/tmp"}, {"LC_ALL", "C"}};
  for (const auto& [k, v] : env) spec.env[k] = v;
  spec.cwd = std::filesystem::temp_directory_path();
  spec.timeout = std::chrono::seconds(60);
  std::string first;
  auto r = exec::run_process(spec, [&](const exec::LogLine& line) {
    if (first.empty() && line.text.find_first_not_of(" \t\r") != std::string::npos) first = line.text;
  });
  if (!r) return fail(r.error());
  if (!r->success())
    return fail(ErrorCode::step_failed, fmt::format("{} {}: {}{}", program.string(), fmt::join(args, " "), r->describe(),
                                                    first.empty() ? "" : ": " + first));
  if (key) {
    std::lock_guard lock(g_probes_mutex);
    if (g_probes.size() >= 256) g_probes.clear();  // a bound, not an LRU: probes are few
    g_probes.emplace(std::move(*key), first);
  }
  return first;
}

std::string join_rel(std::string_view dir, std::string_view rel) {
  if (dir.empty() || dir == ".") return std::string(rel);
  std::string d = strip_trailing_slashes(dir);
  if (rel.empty() || rel == ".") return d;
  return d + "/" + std::string(rel);
}

} // namespace akbuild::steps
