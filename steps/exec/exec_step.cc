#include "steps/exec/exec_step.hh"

#include "akbuild/v1/steps.pb.h"
#include "steps/validate.hh"

namespace akbuild::steps {

namespace {

const v1::ExecParams& cast(const google::protobuf::Message& m) { return static_cast<const v1::ExecParams&>(m); }

std::vector<std::string> list(const google::protobuf::RepeatedPtrField<std::string>& r) { return {r.begin(), r.end()}; }

} // namespace

const google::protobuf::Message& ExecStep::params_prototype() const { return v1::ExecParams::default_instance(); }

Result<StepPlan> ExecStep::plan(const google::protobuf::Message& params, const PlanContext& ctx) const {
  const auto& p = cast(params);
  if (p.run().empty() && p.command().empty())
    return fail(ErrorCode::invalid_argument, "exec: with: one of run or command is required");
  if (!p.run().empty() && !p.command().empty())
    return fail(ErrorCode::invalid_argument, "exec: with: run and command exclude each other; give one");
  StepPlan plan;
  plan.inputs_bindable = true;  // run() only runs the command
  plan.inputs = list(p.inputs());
  plan.exclude = list(p.exclude());
  AK_TRY_VOID(validate_globs(kind(), "inputs", plan.inputs));
  AK_TRY_VOID(validate_globs(kind(), "exclude", plan.exclude));
  for (const auto& o : p.outputs()) AK_TRY_VOID(validate_output_path(kind(), "outputs", o, ctx.workspace));
  plan.outputs = list(p.outputs());
  AK_TRY_VOID(validate_relative_dir(kind(), "working_directory", p.working_directory()));
  plan.deps = list(p.deps());
  plan.tools = list(p.tools());
  if (!p.run().empty()) plan.tools.push_back("bash");
  for (const auto& [k, v] : p.env()) plan.env[k] = v;
  if (!p.hash().empty()) AK_TRY_VOID(validate_sri(kind(), "hash", p.hash()));
  plan.fetch = !p.hash().empty() || p.fetch();
  plan.pin = p.hash();
  if (plan.fetch && plan.outputs.empty())
    return fail(ErrorCode::invalid_argument, "exec: with: outputs: a fetch step (hash or fetch) needs outputs to pin");
  plan.timeout_seconds = p.timeout_seconds();
  return plan;
}

Result<StepOutcome> ExecStep::run(const google::protobuf::Message& params, RunContext& ctx) const {
  const auto& p = cast(params);
  std::vector<std::string> argv;
  if (!p.run().empty()) argv = {"bash", "-eo", "pipefail", "-c", p.run()};
  else argv = list(p.command());
  AK_TRY_VOID(ctx.run(argv, {}, p.working_directory()));
  return StepOutcome{};
}

} // namespace akbuild::steps
