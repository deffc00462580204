#include "runner/engine/tools.hh"

#include <unistd.h>

#include "runner/cas/cache_dir.hh"
#include "runner/core/fs.hh"
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
