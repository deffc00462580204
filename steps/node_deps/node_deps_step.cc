#include "steps/node_deps/node_deps_step.hh"

#include <fmt/format.h>

#include "akbuild/v1/steps.pb.h"
#include "steps/node_deps/package_lock.hh"
#include "steps/tool_hint.hh"
#include "steps/validate.hh"

namespace akbuild::steps {
namespace {

const v1::NodeDepsParams& cast(const google::protobuf::Message& m) { return static_cast<const v1::NodeDepsParams&>(m); }

std::string dir_of(const v1::NodeDepsParams& p) { return p.directory().empty() ? "." : p.directory(); }

// Single-quoted for bash.
std::string quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

} // namespace

const google::protobuf::Message& NodeDepsStep::params_prototype() const { return v1::NodeDepsParams::default_instance(); }

Result<StepPlan> NodeDepsStep::plan(const google::protobuf::Message& params, const PlanContext& ctx) const {
  const auto& p = cast(params);
  AK_TRY_VOID(validate_relative_dir(kind(), "directory", p.directory()));
  for (const auto& o : p.omit())
    if (o != "dev" && o != "optional" && o != "peer")
      return fail(ErrorCode::invalid_argument, fmt::format("node-deps: with: omit: '{}' is not dev, optional or peer", o));
  if (!p.hash().empty()) AK_TRY_VOID(validate_sri(kind(), "hash", p.hash()));
  auto dir = dir_of(p);
  auto lock = AK_TRY(node::PackageLock::load(ctx.workspace / dir, dir).map_error([](Error e) { return e.context("node-deps"); }));
  AK_TRY_VOID(node::check_in_sync(lock, ctx.workspace / dir, dir).map_error([](Error e) { return e.context("node-deps"); }));
  AK_TRY_VOID(require_tool(kind(), "npm", !ctx.toolchains.empty()));
  AK_TRY_VOID(require_tool(kind(), "node", !ctx.toolchains.empty()));

  StepPlan plan;
  plan.inputs = {join_rel(dir, "package.json"), join_rel(dir, "package-lock.json")};
  plan.outputs = {join_rel(dir, "node_modules/")};
  for (const auto& ws : lock.workspaces) {
    plan.inputs.push_back(join_rel(dir, ws + "/package.json"));
    plan.outputs.push_back(join_rel(dir, ws + "/node_modules/"));
  }
  for (const auto& o : plan.outputs) AK_TRY_VOID(validate_output_path(kind(), "directory", o, ctx.workspace));
  plan.tools = {"npm", "node", "bash"};
  plan.fetch = true;
  plan.pin = p.hash();
  plan.extra_key_lines.push_back(fmt::format("lockfile-version: {}", lock.lockfile_version));
  return plan;
}

Result<StepOutcome> NodeDepsStep::run(const google::protobuf::Message& params, RunContext& ctx) const {
  const auto& p = cast(params);
  auto dir = dir_of(p);
  auto lock = AK_TRY(node::PackageLock::load(ctx.input_root() / dir, dir));
  std::string manifests = "package.json package-lock.json";
  for (const auto& ws : lock.workspaces) manifests += " " + quote(ws + "/package.json");
  std::string npm = "npm ci --no-audit --no-fund --loglevel=warn --cache \"$cache\"";
  if (!p.scripts()) npm += " --ignore-scripts";
  for (const auto& o : p.omit()) npm += " --omit=" + o;
  // npm ci replaces node_modules wholesale, which an output mount point does not allow: install
  // in a scratch dir inside the output (the same file system), then move the trees into the
  // outputs, a rename per top-level entry, not a copy of tens of thousands of files.
  std::string script = fmt::format(R"(set -euo pipefail
w=node_modules/.akbuild-install cache="${{TMPDIR:-/tmp}}/akbuild-npm-cache"
mkdir -p node_modules
rm -rf "$w" "$cache" && mkdir -p "$w"
cp --parents {0} "$w/"
(cd "$w" && {1})
rm -f "$w/node_modules/.package-lock.json"
move_into() {{ if [ -d "$1" ]; then find "$1" -mindepth 1 -maxdepth 1 -exec mv -t "$2" {{}} +; fi; }}
move_into "$w/node_modules" node_modules
)", manifests, npm);
  for (const auto& ws : lock.workspaces)
    script += fmt::format("mkdir -p {0}/node_modules\nmove_into \"$w\"/{0}/node_modules {0}/node_modules\n", quote(ws));
  // The npm cache is left to the step's private TMPDIR, which goes with the step (removing its
  // thousands of files by hand took seconds).
  script += "rm -rf \"$w\"\n";
  AK_TRY_VOID(ctx.run({"bash", "-c", script}, {{"npm_config_update_notifier", "false"}}, dir == "." ? "" : dir));
  return StepOutcome{};
}

} // namespace akbuild::steps
