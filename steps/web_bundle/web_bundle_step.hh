#pragma once
// kind: web-bundle — the web build over node_modules from a node-deps step: an npm script, or
// bash lines calling esbuild/rollup/tsc with `<directory>/node_modules/.bin` on PATH.
// Generated clients are linked in: `link: {"@example/api": "gen/ts"}` makes
// node_modules/@example/api a relative symlink to that workspace path (the output of a step
// named in deps), as the reference build links @goauthentik/api. Without deps, node_modules and
// the linked paths are read from the workspace (materialized there by earlier steps). Declared env (NODE_ENV,
// GIT_BUILD_HASH, ...) is part of the key; nothing else of the host's environment reaches it.
//   directory; script | commands; outputs (relative to directory, default dist/);
//   inputs (globs relative to directory; default src/**, package.json, tsconfig*.json and
//   build configs); env; deps; link; tools.

#include "steps/step_kind.hh"

namespace akbuild::steps {

class WebBundleStep final : public StepKind {
public:
  std::string_view kind() const override { return "web-bundle"; }
  int schema_version() const override { return 1; }
  const google::protobuf::Message& params_prototype() const override;
  Result<StepPlan> plan(const google::protobuf::Message& params, const PlanContext& ctx) const override;
  Result<StepOutcome> run(const google::protobuf::Message& params, RunContext& ctx) const override;
};

// Whether `name` is a valid npm package name ("lit", "@scope/name").
bool valid_npm_name(std::string_view name);

} // namespace akbuild::steps
