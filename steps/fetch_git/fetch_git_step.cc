#include "steps/fetch_git/fetch_git_step.hh"

#include <algorithm>
#include <cstdlib>
#include <regex>

#include <fmt/format.h>

#include "akbuild/v1/steps.pb.h"
#include "runner/core/fs.hh"
#include "steps/tool_hint.hh"
#include "steps/validate.hh"

namespace akbuild::steps {
namespace {

namespace fs = std::filesystem;

const v1::FetchGitParams& cast(const google::protobuf::Message& m) { return static_cast<const v1::FetchGitParams&>(m); }

// What a confined step (PlanContext::confined) may clone over: the network without credentials
// of the daemon's. A local path or file:// would read a repository as the daemon's user, ssh
// would authenticate with its keys, and other transports run remote helpers.
constexpr std::string_view k_confined_schemes[] = {"https://", "http://", "git://"};
const std::vector<std::string> k_confined_protocols = {"-c", "protocol.allow=never", "-c", "protocol.https.allow=always",
                                                       "-c", "protocol.http.allow=always", "-c", "protocol.git.allow=always"};

} // namespace

const google::protobuf::Message& FetchGitStep::params_prototype() const { return v1::FetchGitParams::default_instance(); }

Result<StepPlan> FetchGitStep::plan(const google::protobuf::Message& params, const PlanContext& ctx) const {
  const auto& p = cast(params);
  if (p.url().empty()) return fail(ErrorCode::invalid_argument, "fetch-git: with: url is required");
  if (p.url()[0] == '-') return fail(ErrorCode::invalid_argument, fmt::format("fetch-git: with: url: '{}' is not a URL", p.url()));
  if (p.ref().empty() && p.rev().empty())
    return fail(ErrorCode::invalid_argument, "fetch-git: with: give ref (a tag or branch) or rev (a commit)");
  if (!p.rev().empty() && !std::regex_match(p.rev(), std::regex("^[0-9a-f]{40}$")))
    return fail(ErrorCode::invalid_argument, fmt::format("fetch-git: with: rev: '{}' is not a 40-digit commit id", p.rev()));
  if (!p.ref().empty() && (p.ref()[0] == '-' || p.ref().find("..") != std::string::npos || p.ref().find(' ') != std::string::npos))
    return fail(ErrorCode::invalid_argument, fmt::format("fetch-git: with: ref: '{}' is not a tag or branch name", p.ref()));
  if (p.output().empty()) return fail(ErrorCode::invalid_argument, "fetch-git: with: output is required");
  if (!p.hash().empty()) AK_TRY_VOID(validate_sri(kind(), "hash", p.hash()));
  if (ctx.confined && std::none_of(std::begin(k_confined_schemes), std::end(k_confined_schemes),
                                   [&](std::string_view s) { return p.url().starts_with(s); }))
    return fail(ErrorCode::permission_denied,
                fmt::format("fetch-git: with: url: '{}': a job environment's fetch-git clones over https://, http:// "
                            "or git:// only (a local repository or ssh would use the daemon's files or keys)",
                            p.url()));
  StepPlan plan;
  plan.outputs = {p.output().back() == '/' ? p.output() : p.output() + "/"};
  AK_TRY_VOID(validate_output_path(kind(), "output", plan.outputs[0], ctx.workspace));
  AK_TRY_VOID(require_tool(kind(), "git", !ctx.toolchains.empty()));
  plan.tools = {"git"};
  plan.fetch = true;
  plan.pin = p.hash();
  plan.sandboxed = false;
  return plan;
}

Result<StepOutcome> FetchGitStep::run(const google::protobuf::Message& params, RunContext& ctx) const {
  const auto& p = cast(params);
  auto git = AK_TRY(ctx.tool("git"));
  // Beside the output root, so the tree moves into it by rename (same filesystem).
  auto scratch = AK_TRY(TempDir::create(".fetch-git-", ctx.output_root().parent_path()));
  auto tree = scratch.path() / "tree";
  auto home = scratch.path() / "home";
  AK_TRY_VOID(make_dirs(home));
  // Outside the sandbox: a clean environment, no user or system git config, no prompts.
  const char* path = std::getenv("PATH");
  std::map<std::string, std::string> env{{"PATH", path ? path : "/usr/bin:/bin"},
                                         {"HOME", home.string()},
                                         {"GIT_CONFIG_NOSYSTEM", "1"},
                                         {"GIT_CONFIG_GLOBAL", "/dev/null"},
                                         {"GIT_TERMINAL_PROMPT", "0"},
                                         {"LC_ALL", "C"}};
  for (const char* proxy : {"http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "no_proxy", "NO_PROXY"})
    if (const char* v = std::getenv(proxy)) env[proxy] = v;
  auto git_run = [&](std::vector<std::string> args, const fs::path& cwd) -> Result<bool> {
    exec::ProcessSpec spec;
    spec.argv = {git.string()};
    // Again where git runs: the URL was checked when planned, but a redirect or a submodule
    // could name another transport.
    if (ctx.confined()) spec.argv.insert(spec.argv.end(), k_confined_protocols.begin(), k_confined_protocols.end());
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    spec.env = env;
    spec.cwd = cwd;
    auto r = exec::run_process(spec, [&](const exec::LogLine& l) { ctx.log(l.text); }, ctx.cancel());
    if (!r) return fail(r.error());
    return r->success();
  };
  auto must = [&](std::vector<std::string> args, const fs::path& cwd) -> Result<> {
    if (!AK_TRY(git_run(args, cwd)))
      return fail(ErrorCode::step_failed, fmt::format("fetch-git: git {} failed", fmt::format("{}", fmt::join(args, " "))));
    return ok();
  };
  if (p.rev().empty()) {
    // A tag checks out a detached HEAD, and git's advice about it is noise in a build log.
    AK_TRY_VOID(must({"-c", "advice.detachedHead=false", "clone", "--quiet", "--depth", "1", "--no-tags", "--branch", p.ref(), "--", p.url(), tree.string()},
                     scratch.path()));
  } else {
    AK_TRY_VOID(must({"init", "--quiet", tree.string()}, scratch.path()));
    if (!AK_TRY(git_run({"fetch", "--quiet", "--depth", "1", "--", p.url(), p.rev()}, tree))) {
      ctx.log("fetch-git: the server refused a shallow fetch of the commit; fetching everything");
      AK_TRY_VOID(must({"fetch", "--quiet", "--", p.url(), p.ref().empty() ? "+refs/*:refs/remotes/origin/*" : p.ref()}, tree));
    }
    AK_TRY_VOID(must({"-c", "advice.detachedHead=false", "checkout", "--quiet", p.rev()}, tree));
    if (!p.ref().empty()) ctx.log(fmt::format("fetch-git: {} at {}", p.ref(), p.rev()));
  }
  AK_TRY_VOID(remove_tree(tree / ".git"));
  auto dest = ctx.output_root() / p.output();
  AK_TRY_VOID(make_dirs(dest.parent_path()));
  std::error_code ec;
  if (fs::exists(dest)) {
    // The engine may have created the (empty) output directory: move the tree's entries in.
    for (const auto& e : fs::directory_iterator(tree)) {
      fs::rename(e.path(), dest / e.path().filename(), ec);
      if (ec) return fail(ErrorCode::io, fmt::format("fetch-git: {}: {}", (dest / e.path().filename()).string(), ec.message()));
    }
  } else {
    fs::rename(tree, dest, ec);
    if (ec) return fail(ErrorCode::io, fmt::format("fetch-git: {}: {}", dest.string(), ec.message()));
  }
  return StepOutcome{};
}

} // namespace akbuild::steps
