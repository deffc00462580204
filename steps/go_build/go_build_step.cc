#include "steps/go_build/go_build_step.hh"

#include <fmt/format.h>

#include "akbuild/v1/steps.pb.h"
#include "steps/go_build/go_mod.hh"
#include "steps/tool_hint.hh"
#include "steps/validate.hh"

namespace akbuild::steps {
namespace {

const v1::GoBuildParams& cast(const google::protobuf::Message& m) { return static_cast<const v1::GoBuildParams&>(m); }

std::string dir_of(const v1::GoBuildParams& p) { return p.directory().empty() ? "." : p.directory(); }
std::string mode_of(const v1::GoBuildParams& p) { return p.mode().empty() ? "build" : p.mode(); }

Result<> check_rel(std::string_view key, const std::string& value) {
  std::filesystem::path p(value);
  if (value.empty() || p.is_absolute())
    return fail(ErrorCode::invalid_argument, fmt::format("go-build: with: {}: '{}' is not a workspace path", key, value));
  for (const auto& part : p)
    if (part == "..") return fail(ErrorCode::invalid_argument, fmt::format("go-build: with: {}: '{}' leaves the workspace", key, value));
  return ok();
}

std::string output_of(const v1::GoBuildParams& p, const go::GoMod& mod) {
  auto mode = mode_of(p);
  if (!p.output().empty()) return mode == "build" || p.output().back() == '/' ? p.output() : p.output() + "/";
  if (mode == "download") return join_rel(dir_of(p), ".goproxy/");
  if (mode == "vendor") return join_rel(dir_of(p), "vendor/");
  auto base = mod.module.substr(mod.module.find_last_of('/') + 1);
  if (base.size() > 1 && base[0] == 'v' && std::all_of(base.begin() + 1, base.end(), ::isdigit)) {
    auto rest = mod.module.substr(0, mod.module.find_last_of('/'));
    base = rest.substr(rest.find_last_of('/') + 1);
  }
  return join_rel(dir_of(p), "bin/" + base);
}

constexpr const char* k_common_env = R"(set -euo pipefail
root=$PWD
t="${TMPDIR:-/tmp}"
export GOTOOLCHAIN=local GOWORK=off GOCACHE="$t/go-build" GOPATH="$t/go" GOENV=off
)";

} // namespace

const google::protobuf::Message& GoBuildStep::params_prototype() const { return v1::GoBuildParams::default_instance(); }

Result<StepPlan> GoBuildStep::plan(const google::protobuf::Message& params, const PlanContext& ctx) const {
  const auto& p = cast(params);
  auto mode = mode_of(p);
  if (mode != "build" && mode != "download" && mode != "vendor")
    return fail(ErrorCode::invalid_argument, fmt::format("go-build: with: mode: '{}' is not build, download or vendor", mode));
  AK_TRY_VOID(validate_relative_dir(kind(), "directory", p.directory()));
  auto dir = dir_of(p);
  auto mod = AK_TRY(go::GoMod::load(ctx.workspace / dir / "go.mod", join_rel(dir, "go.mod")).map_error([](Error e) {
    return e.context("go-build");
  }));
  AK_TRY_VOID(go::check_sum(mod, ctx.workspace / dir / "go.sum", join_rel(dir, "go.sum")).map_error([](Error e) {
    return e.context("go-build");
  }));
  AK_TRY_VOID(require_tool(kind(), "go", !ctx.toolchains.empty()));
  StepPlan plan;
  plan.tools = {"go", "bash"};
  plan.outputs = {output_of(p, mod)};
  AK_TRY_VOID(validate_output_path(kind(), "output", plan.outputs[0], ctx.workspace));
  plan.deps.assign(p.deps().begin(), p.deps().end());
  for (const auto& [k, v] : p.env()) plan.env[k] = v;
  plan.extra_key_lines.push_back("module: " + mod.module);
  if (mode != "build") {
    // The pin is buildGoModule's vendorHash: the NAR hash of the tree its go-modules derivation
    // outputs, `go mod vendor`'s vendor dir (mode vendor) or, with proxyVendor, the module
    // download cache in GOPROXY layout (mode download).
    for (const char* key : {"packages", "ldflags", "tags", "goos", "goarch", "modcache"}) {
      bool set = (std::string_view(key) == "packages" && !p.packages().empty()) ||
                 (std::string_view(key) == "ldflags" && !p.ldflags().empty()) ||
                 (std::string_view(key) == "tags" && !p.tags().empty()) || (std::string_view(key) == "goos" && !p.goos().empty()) ||
                 (std::string_view(key) == "goarch" && !p.goarch().empty()) ||
                 (std::string_view(key) == "modcache" && !p.modcache().empty());
      if (set) return fail(ErrorCode::invalid_argument, fmt::format("go-build: with: {} does not apply to mode {}", key, mode));
    }
    if (!p.replace().empty())
      return fail(ErrorCode::invalid_argument, "go-build: with: replace applies to mode build (the download pin ignores it)");
    if (!p.hash().empty()) AK_TRY_VOID(validate_sri(kind(), "hash", p.hash()));
    plan.inputs = {join_rel(dir, "go.mod")};
    if (!mod.requirements.empty()) plan.inputs.push_back(join_rel(dir, "go.sum"));
    // `go mod vendor` keeps only the packages the module's sources import, so it reads them.
    if (mode == "vendor") {
      for (const char* g : {"**/*.go", "**/*.s", "**/*.c", "**/*.h"}) plan.inputs.push_back(join_rel(dir, g));
      plan.exclude = {join_rel(dir, "vendor/**"), join_rel(dir, ".goproxy/**")};
    }
    plan.fetch = true;
    // go mod vendor and download take every GOOS/GOARCH's files: one vendorHash for all.
    plan.pin_any_platform = true;
    plan.pin = p.hash();
    return plan;
  }
  if (!p.hash().empty()) return fail(ErrorCode::invalid_argument, "go-build: with: hash applies to modes download and vendor");
  if (p.inputs().empty()) {
    for (const char* g : {"**/*.go", "go.mod", "go.sum", "**/*.s", "**/*.c", "**/*.h"}) plan.inputs.push_back(join_rel(dir, g));
  } else {
    for (const auto& g : p.inputs()) plan.inputs.push_back(join_rel(dir, g));
  }
  AK_TRY_VOID(validate_globs(kind(), "inputs", plan.inputs));
  plan.exclude = {join_rel(dir, "vendor/**"), join_rel(dir, ".goproxy/**")};
  if (!p.modcache().empty()) AK_TRY_VOID(check_rel("modcache", p.modcache()));
  if (!mod.requirements.empty() && p.modcache().empty() && !std::filesystem::exists(ctx.workspace / dir / "vendor") &&
      plan.deps.empty())
    return fail(ErrorCode::invalid_argument,
                fmt::format("go-build: {} requires {} modules: give modcache (the output of a mode: download step, in deps) "
                            "or vendor them (a mode: vendor step, in deps)", join_rel(dir, "go.mod"), mod.requirements.size()));
  for (const auto& [module, path] : p.replace()) {
    if (module.empty() || module.find_first_of(" =") != std::string::npos)
      return fail(ErrorCode::invalid_argument, fmt::format("go-build: with: replace: '{}' is not a module path", module));
    AK_TRY_VOID(check_rel("replace", path));
  }
  for (const auto& pkg : p.packages())
    if (pkg.empty() || pkg[0] == '-') return fail(ErrorCode::invalid_argument, fmt::format("go-build: with: packages: '{}' is not a package", pkg));
  for (const auto& tag : p.tags())
    if (tag.empty() || tag.find_first_of(", ") != std::string::npos)
      return fail(ErrorCode::invalid_argument, fmt::format("go-build: with: tags: '{}' is not a build tag", tag));
  plan.env["CGO_ENABLED"] = p.cgo() ? "1" : "0";
  if (!p.goos().empty()) plan.env["GOOS"] = p.goos();
  if (!p.goarch().empty()) plan.env["GOARCH"] = p.goarch();
  return plan;
}

Result<StepOutcome> GoBuildStep::run(const google::protobuf::Message& params, RunContext& ctx) const {
  const auto& p = cast(params);
  auto mode = mode_of(p);
  auto dir = dir_of(p);
  auto mod = AK_TRY(go::GoMod::load(ctx.input_root() / dir / "go.mod", join_rel(dir, "go.mod")));
  auto out = output_of(p, mod);
  std::map<std::string, std::string> env{{"AKB_DIR", dir}, {"AKB_OUT", out}};
  std::string script = k_common_env;
  // As buildGoModule's go-modules derivation: `go mod download` (proxyVendor) keeps the download
  // cache but its checksum database, `go mod vendor` the vendor dir; an empty result is an error.
  if (mode == "download") {
    script += R"SH(export GOMODCACHE="$t/go/pkg/mod" GOFLAGS=-modcacherw GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}"
cd "$AKB_DIR"
go mod download
rm -rf "$GOMODCACHE/cache/download/sumdb"
mkdir -p "$root/$AKB_OUT"
if [ -d "$GOMODCACHE/cache/download" ]; then cp -r "$GOMODCACHE/cache/download/." "$root/$AKB_OUT"; fi
if [ -z "$(ls -A "$root/$AKB_OUT")" ]; then echo "go-build: the module downloads no modules: nothing to pin" >&2; exit 1; fi
)SH";
    AK_TRY_VOID(ctx.run({"bash", "-c", script}, env));
    return StepOutcome{};
  }
  if (mode == "vendor") {
    script += R"SH(export GOMODCACHE="$t/go/pkg/mod" GOFLAGS=-modcacherw GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}"
cd "$AKB_DIR"
go mod vendor -o "$root/$AKB_OUT"
if [ -z "$(ls -A "$root/$AKB_OUT" 2>/dev/null)" ]; then echo "go-build: go mod vendor vendored nothing: nothing to pin" >&2; exit 1; fi
)SH";
    AK_TRY_VOID(ctx.run({"bash", "-c", script}, env));
    return StepOutcome{};
  }
  script += R"SH(export GOPROXY=off GOSUMDB=off GOFLAGS=-mod=mod GOMODCACHE="$t/go/pkg/mod"
# A download step's output is a module proxy (GOPROXY layout), as buildGoModule's proxyVendor uses it.
if [ -n "${AKB_MODCACHE:-}" ]; then export GOPROXY="file://$root/$AKB_MODCACHE" GOFLAGS="-mod=mod -modcacherw"; fi
cd "$AKB_DIR"
if [ -z "${AKB_MODCACHE:-}" ] && [ -d vendor ]; then export GOFLAGS=-mod=vendor; fi
modfile=()
if [ -n "${AKB_REPLACE:-}" ]; then
  m="$t/akbuild-modfile"; mkdir -p "$m"; cp go.mod "$m/go.mod"; if [ -f go.sum ]; then cp go.sum "$m/go.sum"; fi
  while IFS='=' read -r mod path; do go mod edit -modfile="$m/go.mod" -replace="$mod=$root/$path"; done <<< "$AKB_REPLACE"
  modfile=(-modfile="$m/go.mod"); export GOFLAGS="-mod=mod -modcacherw"
fi
mkdir -p "$(dirname "$root/$AKB_OUT")"
go build "${modfile[@]}" -o "$root/$AKB_OUT" "$@"
)SH";
  if (!p.modcache().empty()) env["AKB_MODCACHE"] = p.modcache();
  std::string replace;
  for (const auto& [module, path] : std::map<std::string, std::string>(p.replace().begin(), p.replace().end()))
    replace += (replace.empty() ? "" : "\n") + module + "=" + path;
  if (!replace.empty()) env["AKB_REPLACE"] = replace;
  std::vector<std::string> argv{"bash", "-c", script, "go-build", "-trimpath", "-buildvcs=false"};
  argv.push_back("-ldflags=-buildid=" + (p.ldflags().empty() ? std::string() : " " + p.ldflags()));
  if (!p.tags().empty()) argv.push_back("-tags=" + fmt::format("{}", fmt::join(p.tags(), ",")));
  if (p.packages().empty()) argv.push_back(".");
  else argv.insert(argv.end(), p.packages().begin(), p.packages().end());
  AK_TRY_VOID(ctx.run(argv, env));
  return StepOutcome{};
}

} // namespace akbuild::steps
