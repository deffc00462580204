#include "steps/python_deps/python_deps_step.hh"

#include <fmt/format.h>

#include "akbuild/v1/steps.pb.h"
#include "runner/core/fs.hh"
#include "runner/core/program_path.hh"
#include "steps/python_deps/uv_lock.hh"
#include "steps/tool_hint.hh"
#include "steps/validate.hh"

namespace akbuild::steps {
namespace {

namespace fs = std::filesystem;

const v1::PythonDepsParams& cast(const google::protobuf::Message& m) { return static_cast<const v1::PythonDepsParams&>(m); }

std::string dir_of(const v1::PythonDepsParams& p) { return p.directory().empty() ? "." : p.directory(); }
std::string out_of(const v1::PythonDepsParams& p) {
  return strip_trailing_slashes(p.output().empty() ? std::string(".venv") : p.output());
}
std::string python_of(const v1::PythonDepsParams& p) { return p.python().empty() ? "python3" : p.python(); }

// The backend a step uses: "uv" or "pip".
Result<std::string> backend_of(const v1::PythonDepsParams& p) {
  auto b = p.backend().empty() ? std::string("auto") : p.backend();
  if (b == "pip") return b;
  if (b == "uv") {
    AK_TRY_VOID(require_tool("python-deps", "uv"));
    return b;
  }
  if (b != "auto") return fail(ErrorCode::invalid_argument, fmt::format("python-deps: with: backend: '{}' is not auto, uv or pip", b));
  return find_program("uv", host_search_path()) ? std::string("uv") : std::string("pip");
}

Result<python::Target> target_of(const v1::PythonDepsParams& p) {
  python::Target t;
  if (!p.python_version().empty()) {
    t.python_version = p.python_version();
  } else {
    auto py = AK_TRY(require_tool("python-deps", python_of(p)));
    auto line = AK_TRY(tool_output_line(py, {"-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"}));
    t.python_version = line;
  }
  if (!p.implementation().empty()) t.implementation = p.implementation();
  if (!p.platform().empty()) t.platform = p.platform();
  if (!p.arch().empty()) t.arch = p.arch();
  if (!p.libc().empty()) t.libc = p.libc();
  t.libc_version = !p.libc_version().empty() ? p.libc_version() : t.libc == "musl" ? "1.2" : "2.36";
  AK_TRY_VOID(t.validate().map_error([](Error e) { return e.context("python-deps: with"); }));
  return t;
}

struct Loaded {
  python::UvLock lock;
  const python::LockPackage* root = nullptr;
};

Result<Loaded> load(const fs::path& base, const v1::PythonDepsParams& p, bool need_pyproject) {
  auto dir = dir_of(p);
  auto ctx = [](Error e) { return e.context("python-deps"); };
  Loaded l;
  auto lock_shown = join_rel(dir, "uv.lock");
  if (!fs::exists(base / dir / "uv.lock"))
    return fail(ErrorCode::invalid_argument, fmt::format("python-deps: {}: no such lockfile (run `uv lock`)", lock_shown));
  l.lock = AK_TRY(python::UvLock::load(base / dir / "uv.lock").map_error(ctx));
  auto pyproject = base / dir / "pyproject.toml";
  if (fs::exists(pyproject)) {
    auto project = AK_TRY(python::PyProject::load(pyproject).map_error(ctx));
    l.root = AK_TRY(l.lock.root(project.name).map_error(ctx));
    AK_TRY_VOID(python::check_in_sync(project, *l.root, lock_shown).map_error(ctx));
  } else if (need_pyproject) {
    return fail(ErrorCode::invalid_argument, fmt::format("python-deps: {}: no such file (uv sync needs it)", join_rel(dir, "pyproject.toml")));
  } else {
    // Without pyproject.toml the root project's own [[package]] entry (source "." editable or
    // virtual) gives its dependencies, extras and groups.
    l.root = AK_TRY(l.lock.root().map_error(ctx));
  }
  return l;
}

Result<std::vector<python::Selected>> select(const Loaded& l, const v1::PythonDepsParams& p, const python::Target& t) {
  python::SelectOptions o;
  o.extras.assign(p.extras().begin(), p.extras().end());
  o.groups.assign(p.groups().begin(), p.groups().end());
  if (p.dev()) o.groups.push_back("dev");
  return python::select_packages(l.lock, *l.root, t, o).map_error([](Error e) { return e.context("python-deps"); });
}

// Fails when the pip backend cannot install a selected package (sdist only, git, directory).
Result<> check_installable(const std::vector<python::Selected>& sel, const python::Target& t) {
  for (const auto& s : sel) {
    if (s.wheel) continue;
    if (s.package->source_kind == "editable" || s.package->source_kind == "virtual") continue;  // workspace members
    return fail(ErrorCode::failed_precondition,
                fmt::format("python-deps: {} {}: {}; the pip backend installs wheels only (use backend uv, or add a {} wheel)",
                            s.package->name, s.package->version, s.skip_reason, t.describe()));
  }
  return ok();
}

constexpr const char* k_relocate = R"PY(
import os, shutil, sys
venv = sys.argv[1]
bindir = os.path.join(venv, "bin")
prefix = ("#!" + venv + "/bin/python").encode()
trampoline = b"#!/bin/sh\n'''exec' \"$(dirname -- \"$(realpath -- \"$0\")\")/python\" \"$0\" \"$@\"\n' '''\n"
for name in sorted(os.listdir(bindir)):
    path = os.path.join(bindir, name)
    if os.path.islink(path) or not os.path.isfile(path):
        continue
    if name.startswith("activate") or name == "Activate.ps1":
        os.remove(path)
        continue
    with open(path, "rb") as f:
        data = f.read()
    if data.startswith(prefix):
        with open(path, "wb") as f:
            f.write(trampoline + data[data.index(b"\n") + 1:])
cfg = os.path.join(venv, "pyvenv.cfg")
with open(cfg) as f:
    lines = [l for l in f if not l.startswith("command = ")]
with open(cfg, "w") as f:
    f.write("".join(lines))
for top, dirs, files in os.walk(venv, topdown=False):
    for f in files:
        if f.endswith((".pyc", ".pyo")) or f == "direct_url.json":
            os.remove(os.path.join(top, f))
    for d in dirs:
        if d == "__pycache__":
            shutil.rmtree(os.path.join(top, d))
)PY";

} // namespace

const google::protobuf::Message& PythonDepsStep::params_prototype() const { return v1::PythonDepsParams::default_instance(); }

Result<StepPlan> PythonDepsStep::plan(const google::protobuf::Message& params, const PlanContext& ctx) const {
  const auto& p = cast(params);
  AK_TRY_VOID(validate_relative_dir(kind(), "directory", p.directory()));
  auto backend = AK_TRY(backend_of(p));
  auto dir = dir_of(p);
  auto loaded = AK_TRY(load(ctx.workspace, p, backend == "uv" && !p.dry_run()));
  auto target = AK_TRY(target_of(p));
  auto sel = AK_TRY(select(loaded, p, target));
  if (backend == "pip" && !p.dry_run()) {
    AK_TRY_VOID(check_installable(sel, target));
    if (p.find_links().empty() == p.index_url().empty())
      return fail(ErrorCode::invalid_argument, "python-deps: with: the pip backend needs one of find_links or index_url");
  }
  if (backend == "uv" && (!p.find_links().empty() || !p.index_url().empty()))
    return fail(ErrorCode::invalid_argument, "python-deps: with: find_links and index_url are for the pip backend (uv reads its sources from uv.lock)");
  if (!p.no_binary().empty() && backend != "uv")
    return fail(ErrorCode::invalid_argument, "python-deps: with: no_binary needs backend uv (the pip backend installs wheels only)");
  if (!p.hash().empty()) AK_TRY_VOID(validate_sri(kind(), "hash", p.hash()));
  StepPlan plan;
  plan.inputs = {join_rel(dir, "uv.lock")};
  if (fs::exists(ctx.workspace / dir / "pyproject.toml")) plan.inputs.push_back(join_rel(dir, "pyproject.toml"));
  for (const auto& pkg : loaded.lock.packages)
    if (pkg.source_kind == "editable" && pkg.source != ".") plan.inputs.push_back(join_rel(dir, pkg.source + "/pyproject.toml"));
  if (!p.find_links().empty()) {
    fs::path fl(p.find_links());
    if (fl.is_absolute() || p.find_links().find("..") != std::string::npos)
      return fail(ErrorCode::invalid_argument, fmt::format("python-deps: with: find_links: '{}' must be a workspace directory", p.find_links()));
    plan.inputs.push_back(p.find_links() + "/*.whl");
  }
  plan.outputs = {join_rel(dir, out_of(p)) + "/"};
  AK_TRY_VOID(validate_output_path(kind(), "output", plan.outputs[0], ctx.workspace));
  plan.deps.assign(p.deps().begin(), p.deps().end());
  plan.tools = {python_of(p), "bash"};
  if (backend == "uv") plan.tools.push_back("uv");
  for (const auto& t : plan.tools) AK_TRY_VOID(require_tool(kind(), t, !ctx.toolchains.empty()));
  plan.extra_key_lines.push_back("backend: " + backend);
  plan.extra_key_lines.push_back("target: " + target.describe() + " python " + target.python_version);
  plan.fetch = !p.dry_run();
  plan.pin = p.hash();
  return plan;
}

Result<StepOutcome> PythonDepsStep::run(const google::protobuf::Message& params, RunContext& ctx) const {
  const auto& p = cast(params);
  auto backend = AK_TRY(backend_of(p));
  auto dir = dir_of(p);
  auto loaded = AK_TRY(load(ctx.input_root(), p, backend == "uv" && !p.dry_run()));
  auto target = AK_TRY(target_of(p));
  auto sel = AK_TRY(select(loaded, p, target));
  std::map<std::string, std::string> env{{"AKB_OUT", out_of(p)}, {"AKB_PY", python_of(p)}, {"PYTHONDONTWRITEBYTECODE", "1"}};
  auto wd = dir == "." ? std::string() : dir;

  if (p.dry_run()) {
    std::string listing;
    for (const auto& s : sel) {
      auto line = s.wheel ? fmt::format("{} {} {} {}", s.package->name, s.package->version, s.wheel->file, s.wheel->hash)
                          : fmt::format("{} {} - ({})", s.package->name, s.package->version, s.skip_reason);
      ctx.log(line);
      listing += line + "\n";
    }
    ctx.log(fmt::format("python-deps: {} packages for {}", sel.size(), target.describe()));
    auto out = ctx.output_root() / dir / out_of(p);
    AK_TRY_VOID(make_dirs(out));
    AK_TRY_VOID(write_file_atomic(out / "wheels.txt", listing));
    return StepOutcome{{{"packages", std::to_string(sel.size())}}};
  }

  std::string script = "set -euo pipefail\nt=\"${TMPDIR:-/tmp}\"\nvenv=\"$PWD/$AKB_OUT\"\n";
  if (backend == "uv") {
    script += "export UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=\"$venv\" UV_PYTHON=\"$AKB_PY\" UV_PYTHON_DOWNLOADS=never "
              "UV_CACHE_DIR=\"$t/uv-cache\" UV_NO_CONFIG=1 UV_COMPILE_BYTECODE=0\n"
              "uv sync --frozen --no-install-project --no-dev";
    for (const auto& e : p.extras()) script += " --extra " + e;
    for (const auto& g : p.groups()) script += " --group " + g;
    if (p.dev()) script += " --group dev";
    for (const auto& n : p.no_binary()) script += " --no-binary-package " + n;
    script += "\n";
  } else {
    AK_TRY_VOID(check_installable(sel, target));
    std::string requirements;
    bool has_pip = false, has_setuptools = false;
    for (const auto& s : sel) {
      if (!s.wheel) {
        ctx.log(fmt::format("python-deps: {} not installed ({})", s.package->name, s.skip_reason));
        continue;
      }
      has_pip = has_pip || s.package->name == "pip";
      has_setuptools = has_setuptools || s.package->name == "setuptools";
      requirements += fmt::format("{}=={} --hash={}\n", s.package->name, s.package->version, s.wheel->hash);
    }
    std::string source = p.index_url().empty() ? "--no-index --find-links \"$root/" + p.find_links() + "\""
                                                : "--index-url '" + p.index_url() + "'";
    script += "root=$PWD\n";
    if (dir != ".") script = "set -euo pipefail\nroot=$PWD\ncd '" + dir + "'\nt=\"${TMPDIR:-/tmp}\"\nvenv=\"$PWD/$AKB_OUT\"\n";
    script += "\"$AKB_PY\" -m venv \"$venv\"\n";
    script += "cat > \"$t/akbuild-requirements.txt\" <<'AKBUILD_REQUIREMENTS'\n" + requirements + "AKBUILD_REQUIREMENTS\n";
    if (!requirements.empty())
      script += "\"$venv/bin/python\" -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes "
                "--no-compile --only-binary :all: " + source + " -r \"$t/akbuild-requirements.txt\"\n";
    std::string drop = std::string(has_pip ? "" : " pip") + (has_setuptools ? "" : " setuptools");
    if (!drop.empty())
      script += "\"$venv/bin/python\" -m pip uninstall --quiet --disable-pip-version-check -y" + drop + " 2>/dev/null || true\n";
  }
  script += "\"$venv/bin/python\" - \"$venv\" <<'AKBUILD_RELOCATE'" + std::string(k_relocate) + "AKBUILD_RELOCATE\n";
  AK_TRY_VOID(ctx.run({"bash", "-c", script}, env, backend == "pip" ? std::string() : wd));
  return StepOutcome{{{"packages", std::to_string(sel.size())}}};
}

} // namespace akbuild::steps
