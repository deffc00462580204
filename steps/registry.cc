#include "steps/registry.hh"

#include "steps/exec/exec_step.hh"
#include "steps/fetch_git/fetch_git_step.hh"
#include "steps/fetch_url/fetch_url_step.hh"
#include "steps/go_build/go_build_step.hh"
#include "steps/node_deps/node_deps_step.hh"
#include "steps/oci_image/oci_image_step.hh"
#include "steps/openapi_client/openapi_client_step.hh"
#include "steps/python_deps/python_deps_step.hh"
#include "steps/web_bundle/web_bundle_step.hh"

namespace akbuild::steps {

namespace {

template <class T>
const StepKind* instance() {
  static const T step;
  return &step;
}

// The table of kinds: one line per kind, in the order help and errors list them.
const KindTable& table() {
  static const KindTable steps{
      instance<ExecStep>(),
      instance<FetchGitStep>(),
      instance<FetchUrlStep>(),
      instance<OpenapiClientStep>(),
      instance<NodeDepsStep>(),
      instance<WebBundleStep>(),
      instance<PythonDepsStep>(),
      instance<GoBuildStep>(),
      instance<OciImageStep>(),
  };
  return steps;
}

} // namespace

const KindTable& all_kinds() { return table(); }

Result<const StepKind*> find_kind(std::string_view kind) { return find_kind(kind, table()); }

Result<const StepKind*> find_kind(std::string_view kind, const KindTable& kinds) {
  std::string known;
  for (const StepKind* s : kinds) {
    if (s->kind() == kind) return s;
    known += (known.empty() ? "" : ", ") + std::string(s->kind());
  }
  return fail(ErrorCode::invalid_argument, "unknown step kind '" + std::string(kind) + "' (kinds: " + known + ")");
}

} // namespace akbuild::steps
