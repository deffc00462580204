#include "runner/engine/tools.hh"

#include <algorithm>
#include <vector>

#include <unistd.h>

#include "runner/cas/cache_dir.hh"
#include "runner/core/fs.hh"
#include "runner/core/hash.hh"
#include "runner/core/walk.hh"
#include "runner/exec/process.hh"

namespace akbuild::engine {

namespace fs = std::filesystem;

Result<fs::path> search_path(std::string_view program, std::string_view path_env) {
  if (program.find('/') != std::string_view::npos) {
    fs::path p(program);
    if (p.is_absolute() && ::access(p.c_str(), X_OK) == 0) return p;
    return fail(ErrorCode::not_found, "tool '" + std::string(program) + "': not an executable absolute path");
  }
  std::size_t start = 0;
  while (start <= path_env.size()) {
    auto end = path_env.find(':', start);
    if (end == std::string_view::npos) end = path_env.size();
    auto dir = path_env.substr(start, end - start);
    if (!dir.empty() && dir.front() == '/') {
      fs::path candidate = fs::path(dir) / std::string(program);
      struct stat st {};
      if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0)
        return candidate;
    }
    start = end + 1;
  }
  return fail(ErrorCode::not_found, "tool '" + std::string(program) + "' was not found on PATH");
}

std::optional<fs::path> enclosing_node_modules(const fs::path& path) {
  // The outermost: a nested package's dependencies may be hoisted to any level above it.
  std::optional<fs::path> found;
  for (fs::path dir = path.parent_path(); dir.has_relative_path(); dir = dir.parent_path())
    if (dir.filename() == "node_modules") found = dir;
  return found;
}

namespace {

// What is installed in a node_modules tree. npm (7 and later) keeps a lockfile of it there,
// every package with its version and integrity. Where there is none (another package manager),
// the package.json of every top-level package, @scope/name included, stands for it.
Result<std::string> node_modules_digest(const fs::path& node_modules, cas::CacheDir& cache) {
  auto digest_of = [&](const fs::path& file) -> Result<std::string> {
    auto info = AK_TRY(stat_path(file));
    return AK_TRY(cas::hash_file_cached(&cache.stat_cache(), file, info)).hex();
  };
  fs::path lock = node_modules / ".package-lock.json";
  if (fs::is_regular_file(lock)) return "package-lock " + AK_TRY(digest_of(lock));
  std::vector<std::string> lines;
  std::error_code ec;
  auto add_package = [&](const fs::path& dir, const std::string& name) -> Result<> {
    fs::path manifest = dir / "package.json";
    if (fs::is_regular_file(manifest)) lines.push_back(name + " " + AK_TRY(digest_of(manifest)));
    return ok();
  };
  for (const auto& entry : fs::directory_iterator(node_modules, ec)) {
    std::string name = entry.path().filename().string();
    if (name.starts_with(".")) continue;
    if (name.starts_with("@")) {
      for (const auto& scoped : fs::directory_iterator(entry.path(), ec))
        AK_TRY_VOID(add_package(scoped.path(), name + "/" + scoped.path().filename().string()));
    } else {
      AK_TRY_VOID(add_package(entry.path(), name));
    }
  }
  if (ec) return fail(ErrorCode::io, node_modules.string() + ": " + ec.message());
  std::sort(lines.begin(), lines.end());
  std::string all;
  for (const auto& line : lines) all.append(line).push_back('\n');
  return "packages " + cas::Digest(sha256(all)).hex();
}

} // namespace

Result<ToolInfo> resolve_tool(std::string_view name, std::string_view path_env, cas::CacheDir& cache) {
  ToolInfo t;
  t.name = std::string(name);
  t.path = AK_TRY(search_path(name, path_env));
  std::error_code ec;
  t.real_path = fs::canonical(t.path, ec);
  if (ec) return fail(ErrorCode::not_found, "tool '" + t.name + "': " + t.path.string() + ": " + ec.message());
  auto info = AK_TRY(stat_path(t.real_path));
  auto digest = AK_TRY(cas::hash_file_cached(&cache.stat_cache(), t.real_path, info));
  t.digest = digest.hex();
  if (auto node_modules = enclosing_node_modules(t.real_path)) {
    t.node_modules = *node_modules;
    t.node_modules_digest = AK_TRY(node_modules_digest(*node_modules, cache).map_error([&](Error e) {
      return e.context("tool '" + t.name + "'");
    }));
  }

  auto version_file = cache.root() / "tools" / (t.digest + ".version");
  if (auto v = read_file(version_file)) {
    t.version = *v;
    return t;
  }
  // Not every program knows --version; whatever its first line says (or nothing) is recorded.
  exec::ProcessSpec spec;
  spec.argv = {t.path.string(), "--version"};
  spec.env = {{"PATH", "/usr/local/bin:/usr/bin:/bin"}, {"LC_ALL", "C"}};
  spec.cwd = cache.tmp_dir();
  spec.timeout = std::chrono::seconds(10);
  spec.kill_grace = std::chrono::milliseconds(500);
  std::string first;
  bool got = false;
  auto r = exec::run_process(spec, [&](const exec::LogLine& l) {
    if (!got && l.stream == exec::LogLine::Stream::out && !l.text.empty()) {
      first = l.text;
      got = true;
    }
  });
  if (r && r->success()) t.version = first;
  for (char& c : t.version)
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  if (t.version.size() > 200) t.version.resize(200);
  if (r && !r->timed_out) {
    (void)make_dirs(version_file.parent_path());
    (void)write_file_atomic(version_file, t.version);
  }
  return t;
}

} // namespace akbuild::engine
