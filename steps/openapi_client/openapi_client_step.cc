#include "steps/openapi_client/openapi_client_step.hh"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

#include "akbuild/v1/steps.pb.h"
#include "runner/core/fs.hh"
#include "runner/exec/process.hh"
#include "steps/openapi_client/generator_command.hh"
#include "steps/tool_hint.hh"
#include "steps/validate.hh"

namespace akbuild::steps {
namespace {

const v1::OpenapiClientParams& cast(const google::protobuf::Message& m) {
  return static_cast<const v1::OpenapiClientParams&>(m);
}

Result<> check_input(const std::filesystem::path& workspace, std::string_view key, const std::string& value) {
  std::filesystem::path p(value);
  if (p.is_absolute())
    return fail(ErrorCode::invalid_argument, fmt::format("openapi-client: with: {}: '{}' must be a workspace path", key, value));
  for (const auto& part : p)
    if (part == "..") return fail(ErrorCode::invalid_argument, fmt::format("openapi-client: with: {}: '{}' leaves the workspace", key, value));
  if (!std::filesystem::exists(workspace / p))
    return fail(ErrorCode::invalid_argument, fmt::format("openapi-client: with: {}: {}: no such file", key, value));
  return ok();
}

} // namespace

const google::protobuf::Message& OpenapiClientStep::params_prototype() const {
  return v1::OpenapiClientParams::default_instance();
}

Result<StepPlan> OpenapiClientStep::plan(const google::protobuf::Message& params, const PlanContext& ctx) const {
  const auto& p = cast(params);
  auto generator = AK_TRY(openapi::parse_generator(p.generator()));
  if (p.schema().empty()) return fail(ErrorCode::invalid_argument, "openapi-client: with: schema is required");
  if (p.output().empty()) return fail(ErrorCode::invalid_argument, "openapi-client: with: output is required");
  AK_TRY_VOID(validate_output_path(kind(), "output", p.output(), ctx.workspace));
  AK_TRY_VOID(openapi::generator_argv(p, generator));
  StepPlan plan;
  plan.deps.assign(p.deps().begin(), p.deps().end());
  // A schema written by a dependency is staged from its output, not read from the workspace.
  if (plan.deps.empty()) AK_TRY_VOID(check_input(ctx.workspace, "schema", p.schema()));
  plan.inputs.push_back(p.schema());
  if (!p.config().empty()) {
    AK_TRY_VOID(check_input(ctx.workspace, "config", p.config()));
    plan.inputs.push_back(p.config());
  }
  if (!p.templates().empty()) {
    AK_TRY_VOID(check_input(ctx.workspace, "templates", p.templates()));
    plan.inputs.push_back(p.templates() + "/**");
  }
  if (!p.generator_jar().empty()) {
    AK_TRY_VOID(check_input(ctx.workspace, "generator_jar", p.generator_jar()));
    plan.inputs.push_back(p.generator_jar());
  }
  plan.inputs.insert(plan.inputs.end(), p.inputs().begin(), p.inputs().end());
  AK_TRY_VOID(validate_globs(kind(), "inputs", plan.inputs));
  plan.outputs = {p.output().back() == '/' ? p.output() : p.output() + "/"};
  plan.tools.push_back(openapi::generator_program(p, generator));
  if (generator == openapi::Generator::openapi_typescript || generator == openapi::Generator::hey_api)
    plan.tools.push_back("node");
  if (generator == openapi::Generator::hey_api) plan.tools.push_back("bash");
  if (!p.post().empty()) plan.tools.push_back("bash");
  plan.tools.insert(plan.tools.end(), p.tools().begin(), p.tools().end());
  for (const auto& t : plan.tools) AK_TRY_VOID(require_tool(kind(), t, !ctx.toolchains.empty()));
  for (const auto& [k, v] : p.env()) plan.env[k] = v;
  if (!p.version().empty()) plan.extra_key_lines.push_back("generator-version: " + p.version());
  return plan;
}

Result<StepOutcome> OpenapiClientStep::run(const google::protobuf::Message& params, RunContext& ctx) const {
  const auto& p = cast(params);
  auto generator = AK_TRY(openapi::parse_generator(p.generator()));
  auto program = openapi::generator_program(p, generator);
  if (!p.version().empty()) {
    auto path = AK_TRY(ctx.tool(program));
    std::map<std::string, std::string> env(p.env().begin(), p.env().end());
    auto args = openapi::version_args(p, generator);
    if (!p.generator_jar().empty()) args = {"-jar", (ctx.input_root() / p.generator_jar()).string(), "version"};
    auto line = AK_TRY(tool_output_line(path, args, env));
    AK_TRY_VOID(openapi::check_version(program, p.version(), line));
    ctx.log(fmt::format("{} reports version {}", program, openapi::find_version(line)));
  }
  // The npm generators run in the sandbox like the others: the engine exposes the node_modules
  // tree a tool lives in, and node is a declared tool.
  auto argv = AK_TRY(openapi::generator_argv(p, generator));
  if (generator == openapi::Generator::hey_api) {
    // openapi-ts deletes its output directory and makes it again, which it cannot do to the
    // sandbox's mount of that directory: it writes into a scratch directory, copied in after.
    // Its log names the directory it wrote: the declared output is shown, not the scratch dir.
    // The declared (keyed) openapi-ts by its path, not whichever PATH finds first under bash.
    argv[0] = AK_TRY(ctx.tool(argv[0])).string();
    auto o = std::find(argv.begin(), argv.end(), "-o");
    if (o == argv.end() || o + 1 == argv.end())
      return fail(ErrorCode::internal, "openapi-client: openapi-ts command line without -o");
    argv.erase(o, o + 2);
    argv.insert(argv.begin(), {"bash", "-eo", "pipefail", "-c",
                               "scratch=$(mktemp -d)\n\"$@\" -o \"$scratch\" --no-log-file 2>&1 |\n"
                               "  while IFS= read -r l || [ -n \"$l\" ]; do\n"
                               "    printf '%s\\n' \"${l//\"$scratch\"/$AKBUILD_OPENAPI_OUTPUT}\"; done\n"
                               "cp -a \"$scratch\"/. \"$AKBUILD_OPENAPI_OUTPUT\"/",
                               "openapi-client"});
    AK_TRY_VOID(ctx.run(argv, {{"AKBUILD_OPENAPI_OUTPUT", p.output()}}));
  } else {
    AK_TRY_VOID(ctx.run(argv));
  }
  for (const auto& line : p.post()) AK_TRY_VOID(ctx.run({"bash", "-eo", "pipefail", "-c", line}, {}, p.output()));
  return StepOutcome{};
}

} // namespace akbuild::steps
