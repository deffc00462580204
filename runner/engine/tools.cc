#include "runner/engine/tools.hh"

#include <algorithm>
#include <vector>

#include "runner/cas/cache_dir.hh"
#include "runner/core/fs.hh"
#include "runner/core/hash.hh"
#include "runner/core/program_path.hh"
#include "runner/core/walk.hh"
#include "runner/exec/process.hh"

namespace akbuild::engine {

namespace fs = std::filesystem;

std::optional<fs::path> enclosing_node_modules(const fs::path& path) {
  // The outermost: a nested package's dependencies may be hoisted to any level above it.
  std::optional<fs::path> found;
  for (fs::path dir = path.parent_path(); dir.has_relative_path(); dir = dir.parent_path())
    if (dir.filename() == "node_modules") found = dir;
  return found;
}

namespace {

// The top-level packages of a node_modules tree (`name` and `@scope/name`): directory and name;
// each @scope directory too, with an empty name.
Result<std::vector<std::pair<fs::path, std::string>>> top_level_packages(const fs::path& node_modules) {
  std::vector<std::pair<fs::path, std::string>> out;
  auto list = [](const fs::path& dir) -> Result<std::vector<fs::path>> {
    std::vector<fs::path> entries;
    std::error_code ec;
    fs::directory_iterator it(dir, ec), end;
    for (; !ec && it != end; it.increment(ec))
      if (!it->path().filename().string().starts_with(".")) entries.push_back(it->path());
    if (ec) return fail(ErrorCode::io, dir.string() + ": " + ec.message());
    return entries;
  };
  for (const auto& entry : AK_TRY(list(node_modules))) {
    std::string name = entry.filename().string();
    if (!name.starts_with("@")) {
      out.emplace_back(entry, name);
      continue;
    }
    std::error_code ec;
    if (!fs::is_directory(entry, ec)) continue;
    out.emplace_back(entry, "");  // a scope: its own mtime moves when a package in it comes or goes
    for (const auto& scoped : AK_TRY(list(entry))) out.emplace_back(scoped, name + "/" + scoped.filename().string());
  }
  return out;
}

// What is installed in a node_modules tree. The package managers keep a lockfile of it there:
// npm (7 and later) `.package-lock.json`, pnpm `.pnpm/lock.yaml`, yarn `.yarn-state.yml`, every
// package with its version and integrity. npm trusts its own only while neither node_modules
// nor a package folder in it is newer (a package added, removed or changed by hand or by a
// postinstall script; an edit inside a package's files moves no folder, for npm neither); so
// does this. Otherwise the package.json of every top-level package stands for the tree.
Result<std::string> node_modules_digest(const fs::path& node_modules, cas::CacheDir& cache) {
  auto digest_of = [&](const fs::path& file, const FileInfo& info) -> Result<std::string> {
    return AK_TRY(cas::hash_file_cached(&cache.stat_cache(), file, info)).hex();
  };
  auto packages = AK_TRY(top_level_packages(node_modules));
  // The newest of node_modules and its folders: a lockfile older than that is stale.
  std::int64_t newest_folder = AK_TRY(stat_path(node_modules)).mtime_ns;
  for (const auto& [dir, name] : packages)
    if (auto info = stat_path(dir)) newest_folder = std::max(newest_folder, info->mtime_ns);
  for (const char* lock : {".package-lock.json", ".pnpm/lock.yaml", ".yarn-state.yml"}) {
    auto info = stat_path(node_modules / lock);
    if (info && info->type == FileType::regular && info->mtime_ns >= newest_folder)
      return std::string(lock) + " " + AK_TRY(digest_of(node_modules / lock, *info));
  }
  std::vector<std::string> lines;
  for (const auto& [dir, name] : packages) {
    if (name.empty()) continue;
    auto info = stat_path(dir / "package.json");
    if (info && info->type == FileType::regular) lines.push_back(name + " " + AK_TRY(digest_of(dir / "package.json", *info)));
  }
  std::sort(lines.begin(), lines.end());
  std::string all;
  for (const auto& line : lines) all.append(line).push_back('\n');
  return "packages " + cas::Digest(sha256(all)).hex();
}

} // namespace

Result<ToolInfo> resolve_tool(std::string_view name, std::string_view path_env, cas::CacheDir& cache) {
  ToolInfo t;
  t.name = std::string(name);
  t.path = AK_TRY(find_program(name, path_env).map_error([&](Error e) { return e.context("tool"); }));
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

  auto version_file = cache.layout().tools() / (t.digest + ".version");
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
