#include "runner/workflow/remote_action.hh"

#include <chrono>
#include <regex>

#include <fcntl.h>
#include <sys/stat.h>

#include "runner/core/fs.hh"
#include "runner/exec/process.hh"

namespace akbuild::workflow {

namespace fs = std::filesystem;

namespace {

struct GitResult {
  bool ok = false;
  std::string out, err;  // the first line of each
};

GitResult git(std::vector<std::string> args, const fs::path& cwd, const std::map<std::string, std::string>& env) {
  exec::ProcessSpec spec;
  spec.argv = {"git"};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.env = env;
  spec.env["GIT_TERMINAL_PROMPT"] = "0";  // never wait for credentials: act clones without a token
  spec.cwd = cwd;
  spec.timeout = std::chrono::minutes(5);
  GitResult g;
  auto r = exec::run_process(spec, [&](const exec::LogLine& l) {
    std::string& first = l.stream == exec::LogLine::Stream::out ? g.out : g.err;
    if (first.empty()) first = l.text;
  });
  if (!r) g.err = r.error().message;
  g.ok = r && r->success();
  return g;
}

} // namespace

Result<RemoteAction> parse_remote_action(const std::string& uses, const std::string& default_url) {
  static const std::regex re(R"(^(https?://[^/]+)?/?([^/@]+)/([^/@]+)(/([^@]*))?@(.+)$)");
  std::smatch m;
  if (uses.starts_with("./") || uses.starts_with("docker://") || !std::regex_match(uses, m, re))
    return fail(ErrorCode::invalid_argument, "'" + uses + "' is not a remote action (owner/repo[/path]@ref)");
  std::string base = m[1].matched ? m[1].str() : default_url;
  while (base.ends_with("/")) base.pop_back();
  return RemoteAction{base + "/" + m[2].str() + "/" + m[3].str(), m[6].str(), m[5].str()};
}

Result<fs::path> fetch_remote_action(const RemoteAction& action, const cas::CacheLayout& cache,
                                     const std::map<std::string, std::string>& env) {
  std::error_code ec;
  fs::create_directories(cache.tmp(), ec);
  auto listed = git({"ls-remote", "--", action.url, action.ref, action.ref + "^{}"}, cache.tmp(), env);
  std::string commit;
  if (listed.ok && listed.out.size() >= 40) commit = listed.out.substr(0, 40);
  else if (std::regex_match(action.ref, std::regex("[0-9a-f]{40}"))) commit = action.ref;
  if (commit.empty())
    return fail(ErrorCode::unavailable, "cannot fetch " + action.url + "@" + action.ref + ": " +
                                            (listed.ok ? "no such ref" : listed.err));
  std::string where = action.url.substr(action.url.find("://") + 3);
  while (where.starts_with("/")) where.erase(0, 1);  // file:///srv/x: below the area, not at /srv
  fs::path dir = cache.remote_actions() / where / commit;
  if (fs::is_directory(dir, ec)) {
    ::utimensat(AT_FDCWD, dir.c_str(), nullptr, 0);  // its last use, which gc orders by
  } else {
    fs::create_directories(dir.parent_path(), ec);
    auto run = AK_TRY(TempDir::create("clone-", cache.tmp()));
    auto held = AK_TRY(FileLock::acquire(run.path() / "lock"));
    fs::path tree = run.path() / "tree";
    fs::create_directories(tree, ec);
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"init", "-q"}, {"fetch", "-q", "--depth", "1", "--", action.url, commit}, {"checkout", "-q", "FETCH_HEAD"}}) {
      auto g = git(args, tree, env);
      if (!g.ok) return fail(ErrorCode::unavailable, "cannot fetch " + action.url + "@" + action.ref + ": " + g.err);
    }
    fs::remove_all(tree / ".git", ec);
    // Another process may have placed the same commit meanwhile: either copy is the same tree.
    fs::rename(tree, dir, ec);
  }
  return action.path.empty() ? dir : dir / action.path;
}

} // namespace akbuild::workflow
