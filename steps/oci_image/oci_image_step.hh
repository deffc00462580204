#pragma once
// kind: oci-image — a reproducible OCI image layout (oci/image.hh) from workspace paths and
// other steps' outputs, one layer per entry of `layers`, optionally on a base (a layout in the
// workspace, or an image in a registry, pulled through the cache dir's CAS and pinned by digest in
// akbuild.lock when given by tag), optionally also a docker-archive tar and a push to a registry.
// Not sandboxed: it only reads its inputs.
// Outputs: the layout (and archive) paths; values `digest` (manifest) and `ref`.
//   layers: [{from, to, owner, mode, perms: [{glob, mode, uid, gid}]}]; entrypoint, cmd, env,
//   workdir, user, ports, volumes, labels, stop_signal, os, architecture; tag (required);
//   layout (default image/); base; compression; docker_archive; push; insecure; deps.

#include "steps/step_kind.hh"

namespace akbuild::steps {

class OciImageStep final : public StepKind {
public:
  std::string_view kind() const override { return "oci-image"; }
  // 2: the history no longer names the step.
  int schema_version() const override { return 2; }
  const google::protobuf::Message& params_prototype() const override;
  Result<StepPlan> plan(const google::protobuf::Message& params, const PlanContext& ctx) const override;
  Result<StepOutcome> run(const google::protobuf::Message& params, RunContext& ctx) const override;
  // Resolves a base's tag to the digest it names now, pulling the image for the step's platform.
  Result<std::string> resolve_ref(const google::protobuf::Message& params, const std::string& ref,
                                  cas::CacheDir& cache) const override;
};

} // namespace akbuild::steps
