#pragma once
// kind: python-deps (fetch step) — the locked dependencies of a uv project in a venv.
//   backend uv:  `uv sync --frozen --no-install-project --no-dev` (UV_LINK_MODE=copy, the
//                venv at `output`), with extras, groups and no-binary packages;
//   backend pip: akbuild reads uv.lock itself (uv_lock.hh), selects the packages and the best
//                wheel of each for the target (markers evaluated, extras and groups followed),
//                and runs `python -m venv` + `pip install --no-deps --require-hashes` from
//                `find_links` (a workspace wheel directory) or `index_url`;
//   auto (default): uv when it is on PATH, else pip.
// Either way the venv is made relocatable: console-script shebangs become a `/bin/sh`
// trampoline to the venv's own python, activate scripts, `command =` in pyvenv.cfg,
// direct_url.json, *.pyc and __pycache__ are removed. `dry_run` lists the wheels (into
// `<output>/wheels.txt` and the log) instead of installing; it needs no pin.

#include "steps/step_kind.hh"

namespace akbuild::steps {

class PythonDepsStep final : public StepKind {
public:
  std::string_view kind() const override { return "python-deps"; }
  int schema_version() const override { return 1; }
  const google::protobuf::Message& params_prototype() const override;
  Result<StepPlan> plan(const google::protobuf::Message& params, const PlanContext& ctx) const override;
  Result<StepOutcome> run(const google::protobuf::Message& params, RunContext& ctx) const override;
};

} // namespace akbuild::steps
