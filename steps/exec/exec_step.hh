#pragma once
// kind: exec — runs a command over declared inputs and collects declared outputs.
//   run:     a bash script, run as `bash -eo pipefail -c SCRIPT` (bash is then a keyed tool)
//   command: an argv (one item per line, or a YAML/JSON list)
//   inputs/exclude: workspace globs; outputs: workspace paths; env; deps; tools;
//   working_directory; timeout_seconds;
//   hash (SRI NAR hash) or fetch: true makes it a fetch step: network allowed, outputs pinned.

#include "steps/step_kind.hh"

namespace akbuild::steps {

class ExecStep final : public StepKind {
public:
  std::string_view kind() const override { return "exec"; }
  int schema_version() const override { return 1; }
  const google::protobuf::Message& params_prototype() const override;
  Result<StepPlan> plan(const google::protobuf::Message& params, const PlanContext& ctx) const override;
  Result<StepOutcome> run(const google::protobuf::Message& params, RunContext& ctx) const override;
};

} // namespace akbuild::steps
