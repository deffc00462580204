#pragma once
// kind: fetch-git (fetch step) — a shallow clone of `url` at a tag or branch (`ref`,
// `git clone --depth 1 --branch`) or a commit (`rev`, a depth-1 fetch of that commit, with a
// full fetch as the fallback for servers that refuse), checked out without `.git`, pinned by
// the NAR hash of the tree: the same SRI hash Nix's fetchgit (leaveDotGit = false, no
// submodules) gives. It runs git outside the sandbox, so local repositories (paths, file://)
// work as remote ones do; nothing but the tree reaches the output.

#include "steps/step_kind.hh"

namespace akbuild::steps {

class FetchGitStep final : public StepKind {
public:
  std::string_view kind() const override { return "fetch-git"; }
  int schema_version() const override { return 1; }
  const google::protobuf::Message& params_prototype() const override;
  Result<StepPlan> plan(const google::protobuf::Message& params, const PlanContext& ctx) const override;
  Result<StepOutcome> run(const google::protobuf::Message& params, RunContext& ctx) const override;
};

} // namespace akbuild::steps
