#pragma once
// kind: fetch-url (fetch step) — the file at `url` (https://, http://, file:// or a local path),
// as it is (Nix's fetchurl: pinned by the sha256 of its bytes, or by its NAR when `executable`)
// or unpacked (Nix's fetchzip: a tar, compressed or not, or a zip; its single top directory
// stripped unless `keep-root`; pinned by the NAR hash of the tree). The same `hash:` Nix's
// fetchers take pins it here. Entries are extracted beneath a scratch directory and refused when
// absolute, holding `..`, passing through a symlink or (symlinks) pointing out of the tree; the
// output appears only once everything was written.

#include "steps/step_kind.hh"

namespace akbuild::steps {

class FetchUrlStep final : public StepKind {
public:
  std::string_view kind() const override { return "fetch-url"; }
  int schema_version() const override { return 1; }
  const google::protobuf::Message& params_prototype() const override;
  Result<StepPlan> plan(const google::protobuf::Message& params, const PlanContext& ctx) const override;
  Result<StepOutcome> run(const google::protobuf::Message& params, RunContext& ctx) const override;
};

} // namespace akbuild::steps
