#include "steps/openapi_client/openapi_client_step.hh"

#include <fmt/format.h>

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

// The npm generators load their whole package tree, which the sandbox does not expose (it binds
// only the tool's own directories), so they run as plain processes: cwd the staged input root,
// the output argument pointed at the output root, the declared env plus PATH and a scratch HOME.
Result<> run_on_host(const v1::OpenapiClientParams& p, std::vector<std::string> argv, RunContext& ctx) {
  auto out = ctx.output_root() / p.output();
  AK_TRY_VOID(make_dirs(out));
  for (auto& arg : argv) {
    if (arg == p.output()) arg = out.string();
    else if (arg == p.output() + "/schema.d.ts") arg = (out / "schema.d.ts").string();
  }
  auto program = argv[0];
  argv[0] = AK_TRY(ctx.tool(program)).string();
  auto home = AK_TRY(TempDir::create("akbuild-openapi-home-"));
  exec::ProcessSpec spec;
  spec.argv = argv;
  const char* path = std::getenv("PATH");
  spec.env = {{"PATH", path ? path : "/usr/bin:/bin"}, {"HOME", home.path().string()}, {"LC_ALL", "C"},
              {"NO_COLOR", "1"}};
  for (const auto& [k, v] : p.env()) spec.env[k] = v;
  spec.cwd = ctx.input_root();
  auto r = exec::run_process(spec, [&](const exec::LogLine& l) { ctx.log(l.text); }, ctx.cancel());
  if (!r) return fail(r.error());
  if (!r->success())
    return fail(r->cancelled ? ErrorCode::cancelled : ErrorCode::step_failed,
                fmt::format("openapi-client: {} failed: {}", program, r->describe()));
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
  if (!p.post().empty()) plan.tools.push_back("bash");
  plan.tools.insert(plan.tools.end(), p.tools().begin(), p.tools().end());
  for (const auto& t : plan.tools) AK_TRY_VOID(require_tool(kind(), t));
  for (const auto& [k, v] : p.env()) {
    if (k.empty() || k.find('=') != std::string::npos)
      return fail(ErrorCode::invalid_argument, fmt::format("openapi-client: with: env: '{}' is not a variable name", k));
    plan.env[k] = v;
  }
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
  auto argv = AK_TRY(openapi::generator_argv(p, generator));
  if (generator == openapi::Generator::openapi_typescript || generator == openapi::Generator::hey_api) {
    AK_TRY_VOID(run_on_host(p, argv, ctx));
  } else {
    AK_TRY_VOID(ctx.run(argv));
  }
  for (const auto& line : p.post()) AK_TRY_VOID(ctx.run({"bash", "-eo", "pipefail", "-c", line}, {}, p.output()));
  return StepOutcome{};
}

} // namespace akbuild::steps
