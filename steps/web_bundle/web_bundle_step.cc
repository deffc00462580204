#include "steps/web_bundle/web_bundle_step.hh"

#include <regex>
#include <system_error>

#include <fmt/format.h>

#include "akbuild/v1/steps.pb.h"
#include "steps/tool_hint.hh"
#include "steps/validate.hh"

namespace akbuild::steps {
namespace {

namespace fs = std::filesystem;

const v1::WebBundleParams& cast(const google::protobuf::Message& m) { return static_cast<const v1::WebBundleParams&>(m); }

std::string dir_of(const v1::WebBundleParams& p) { return p.directory().empty() ? "." : p.directory(); }

Result<> check_rel(std::string_view key, const std::string& value) {
  fs::path p(value);
  if (value.empty() || p.is_absolute())
    return fail(ErrorCode::invalid_argument, fmt::format("web-bundle: with: {}: '{}' is not a relative path", key, value));
  for (const auto& part : p)
    if (part == "..") return fail(ErrorCode::invalid_argument, fmt::format("web-bundle: with: {}: '{}' leaves the workspace", key, value));
  return ok();
}

} // namespace

bool valid_npm_name(std::string_view name) {
  static const std::regex k_name(R"(^(@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*$)");
  return name.size() <= 214 && std::regex_match(name.begin(), name.end(), k_name);
}

const google::protobuf::Message& WebBundleStep::params_prototype() const { return v1::WebBundleParams::default_instance(); }

Result<StepPlan> WebBundleStep::plan(const google::protobuf::Message& params, const PlanContext& ctx) const {
  const auto& p = cast(params);
  AK_TRY_VOID(validate_relative_dir(kind(), "directory", p.directory()));
  if (p.script().empty() == p.commands().empty())
    return fail(ErrorCode::invalid_argument, "web-bundle: with: give one of script (an npm script) or commands");
  auto dir = dir_of(p);
  StepPlan plan;
  if (p.inputs().empty()) {
    for (const char* g : {"src/**", "package.json", "tsconfig*.json", "*.config.js", "*.config.mjs", "*.config.cjs",
                          "*.config.ts", "scripts/**", "index.html", "public/**"})
      plan.inputs.push_back(join_rel(dir, g));
  } else {
    for (const auto& g : p.inputs()) plan.inputs.push_back(join_rel(dir, g));
  }
  AK_TRY_VOID(validate_globs(kind(), "inputs", plan.inputs));
  // With deps, node_modules and linked clients are staged from those steps' outputs; without,
  // they are read from the workspace, where earlier `akbuild step` runs materialized them.
  if (p.deps().empty()) {
    plan.inputs.push_back(join_rel(dir, "node_modules/**"));
    for (const auto& [name, path] : p.link()) plan.inputs.push_back(path + "/**");
  } else {
    plan.exclude = {join_rel(dir, "node_modules/**")};
  }
  std::vector<std::string> outs(p.outputs().begin(), p.outputs().end());
  if (outs.empty()) outs = {"dist/"};
  for (const auto& o : outs) {
    plan.outputs.push_back(join_rel(dir, o));
    AK_TRY_VOID(validate_output_path(kind(), "outputs", plan.outputs.back(), ctx.workspace));
    plan.exclude.push_back(join_rel(dir, o.back() == '/' ? o + "**" : o));
  }
  if (!p.script().empty() && !std::regex_match(p.script(), std::regex(R"(^[A-Za-z0-9:_.-]+$)")))
    return fail(ErrorCode::invalid_argument, fmt::format("web-bundle: with: script: '{}' is not an npm script name", p.script()));
  for (const auto& [name, path] : p.link()) {
    if (!valid_npm_name(name))
      return fail(ErrorCode::invalid_argument, fmt::format("web-bundle: with: link: '{}' is not an npm package name", name));
    AK_TRY_VOID(check_rel("link", path));
    plan.extra_key_lines.push_back(fmt::format("link: {} -> {}", name, path));
  }
  plan.deps.assign(p.deps().begin(), p.deps().end());
  for (const auto& [k, v] : p.env()) plan.env[k] = v;
  plan.tools = {"bash", "node"};
  if (!p.script().empty()) plan.tools.push_back("npm");
  for (const auto& t : p.tools()) plan.tools.push_back(t);
  for (const auto& t : plan.tools) AK_TRY_VOID(require_tool(kind(), t, !ctx.toolchains.empty()));
  return plan;
}

Result<StepOutcome> WebBundleStep::run(const google::protobuf::Message& params, RunContext& ctx) const {
  const auto& p = cast(params);
  auto dir = dir_of(p);
  // Link generated clients into the staged node_modules (a relative symlink, so it resolves the
  // same inside and outside the sandbox). The staged tree is this step's private copy.
  for (const auto& [name, target] : p.link()) {
    fs::path link = ctx.input_root() / dir / "node_modules" / name;
    fs::path to = ctx.input_root() / target;
    if (!fs::exists(to))
      return fail(ErrorCode::failed_precondition,
                  fmt::format("web-bundle: link: {} -> {}: no such path (is the step that writes it in deps?)", name, target));
    std::error_code ec;
    fs::create_directories(link.parent_path(), ec);
    fs::remove_all(link, ec);
    fs::create_directory_symlink(fs::relative(to, link.parent_path()), link, ec);
    if (ec) return fail(ErrorCode::io, fmt::format("web-bundle: link {}: {}", name, ec.message()));
    ctx.log(fmt::format("linked node_modules/{} -> {}", name, target));
  }
  std::string script = "set -eo pipefail\nexport PATH=\"$PWD/node_modules/.bin:$PATH\"\n";
  if (!p.script().empty()) {
    script += "npm run --silent " + p.script() + "\n";
  } else {
    for (const auto& line : p.commands()) script += line + "\n";
  }
  AK_TRY_VOID(ctx.run({"bash", "-c", script}, {}, dir == "." ? "" : dir));
  return StepOutcome{};
}

} // namespace akbuild::steps
