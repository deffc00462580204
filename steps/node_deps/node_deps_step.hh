#pragma once
// kind: node-deps (fetch step) — `npm ci --ignore-scripts` from package-lock.json into
// `<directory>/node_modules` (and each workspace's node_modules), pinned by NAR hash per
// platform (npm's optional native packages differ by platform). npm runs in a scratch copy of
// the manifests, so only node_modules trees land in the outputs; `.package-lock.json` and the
// npm cache are left out. Before anything runs: the lockfile exists, is version 2 or 3, and
// lists every dependency of package.json.
//   directory: where package.json and package-lock.json are; omit: npm --omit values;
//   scripts: run install scripts; hash: the pin (else akbuild.lock).

#include "steps/step_kind.hh"

namespace akbuild::steps {

class NodeDepsStep final : public StepKind {
public:
  std::string_view kind() const override { return "node-deps"; }
  int schema_version() const override { return 1; }
  const google::protobuf::Message& params_prototype() const override;
  Result<StepPlan> plan(const google::protobuf::Message& params, const PlanContext& ctx) const override;
  Result<StepOutcome> run(const google::protobuf::Message& params, RunContext& ctx) const override;
};

} // namespace akbuild::steps
