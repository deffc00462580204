#pragma once
// kind: go-build — three modes of one kind:
//   download (fetch step): `go mod download` into a module cache output, keyed only by go.mod
//            and go.sum and pinned by NAR hash, like Nix's vendorHash;
//   vendor   (fetch step): `go mod vendor` into `<directory>/vendor/`, pinned the same way;
//   build:   `go build -trimpath -buildvcs=false -ldflags=-buildid=` offline (GOPROXY=off,
//            GOTOOLCHAIN=local, -mod=mod over `modcache`, or -mod=vendor when a vendor dir is
//            there) with packages, output, ldflags, tags, cgo, goos/goarch, and `replace` of a
//            module by a workspace directory (another step's output) through a scratch -modfile,
//            so go.mod and the download pin stay untouched.
// Before anything runs: go.mod parses and go.sum holds a hash for every requirement.

#include "steps/step_kind.hh"

namespace akbuild::steps {

class GoBuildStep final : public StepKind {
public:
  std::string_view kind() const override { return "go-build"; }
  int schema_version() const override { return 1; }
  const google::protobuf::Message& params_prototype() const override;
  Result<StepPlan> plan(const google::protobuf::Message& params, const PlanContext& ctx) const override;
  Result<StepOutcome> run(const google::protobuf::Message& params, RunContext& ctx) const override;
};

} // namespace akbuild::steps
