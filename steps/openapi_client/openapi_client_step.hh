#pragma once
// kind: openapi-client — generates an API client from an OpenAPI schema with one of four
// generators (see generator_command.hh for their command lines), then runs the post-processing
// lines (`gofmt -w .`, `rm -rf test`) in the output directory. With `version:` the generator's
// own `--version` must report it (a mismatch fails before anything is generated); the tool's
// path, digest and version are keyed by the engine either way. The npm generators run outside
// the sandbox (they need their whole package tree), reading the staged inputs.

#include "steps/step_kind.hh"

namespace akbuild::steps {

class OpenapiClientStep final : public StepKind {
public:
  std::string_view kind() const override { return "openapi-client"; }
  int schema_version() const override { return 1; }
  const google::protobuf::Message& params_prototype() const override;
  Result<StepPlan> plan(const google::protobuf::Message& params, const PlanContext& ctx) const override;
  Result<StepOutcome> run(const google::protobuf::Message& params, RunContext& ctx) const override;
};

} // namespace akbuild::steps
