#include <doctest/doctest.h>

#include "akbuild/v1/steps.pb.h"
#include "steps/python_deps/pep508.hh"
#include "steps/python_deps/uv_lock.hh"
#include "steps/python_deps/wheel_tags.hh"
#include "tests/steps/kinds_support.hh"

using namespace akbuild;
using namespace akbuild::steps::python;

namespace {

Target cp(std::string version) {
  Target t;
  t.python_version = std::move(version);
  t.libc_version = "2.36";
  return t;
}

bool marker(std::string_view m, const Target& t = cp("3.14"), std::set<std::string> extras = {}) {
  auto env = t.marker_env();
  env.extras = std::move(extras);
  auto r = evaluate_marker(m, env);
  REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  return *r;
}

} // namespace

TEST_CASE("PEP 440 versions order pre, dev and post releases") {
  auto v = [](std::string_view s) { return *Version::parse(s); };
  CHECK(v("1.0.dev1") < v("1.0a1"));
  CHECK(v("1.0a1") < v("1.0b2"));
  CHECK(v("1.0b2") < v("1.0rc1"));
  CHECK(v("1.0rc1") < v("1.0"));
  CHECK(v("1.0") < v("1.0.post1"));
  CHECK(v("1.0") == v("1.0.0"));
  CHECK(v("3.9") < v("3.14"));
  CHECK_FALSE(Version::parse("abc"));
}

TEST_CASE("version specifiers match prefixes and compatible releases") {
  auto v = *Version::parse("3.14.2");
  CHECK(*version_matches("==", "3.14.*", v));
  CHECK_FALSE(*version_matches("==", "3.13.*", v));
  CHECK(*version_matches("~=", "3.12", v));
  CHECK_FALSE(*version_matches("~=", "3.14.3", v));
  CHECK(*version_matches("<", "3.15", v));
}

TEST_CASE("markers evaluate against the target interpreter and platform") {
  CHECK(marker("python_full_version < '3.15'"));
  CHECK_FALSE(marker("python_version < '3.10'"));
  CHECK(marker("python_version >= '3.9'"));  // compared as versions, not strings
  CHECK(marker("sys_platform == 'linux' and platform_machine == 'x86_64'"));
  CHECK_FALSE(marker("sys_platform == 'win32'"));
  CHECK(marker("platform_python_implementation != 'PyPy' and sys_platform != 'cygwin' and sys_platform != 'win32'"));
  CHECK(marker("(os_name == 'nt' or implementation_name == 'cpython') and python_version != '3.10'"));
  CHECK(marker("'3.10' < python_version"));
  CHECK(marker("'linux' in sys_platform"));
  CHECK(marker("extra == 'S3'", cp("3.14"), {"s3"}));
  CHECK_FALSE(marker("extra == 's3'"));
}

TEST_CASE("a malformed marker is an error naming the column") {
  auto env = cp("3.14").marker_env();
  auto r = evaluate_marker("python_version <", env);
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("column") != std::string::npos);
  CHECK_FALSE(evaluate_marker("bogus_var == '1'", env));
  CHECK_FALSE(evaluate_marker("python_version == '3.14' and (", env));
}

TEST_CASE("wheel tags prefer the interpreter ABI, then abi3, then pure python") {
  TagRanker ranker(cp("3.14"));
  auto rank = [&](std::string_view file) { return ranker.rank(*WheelName::parse(file)); };
  auto native = rank("x-1.0-cp314-cp314-manylinux_2_17_x86_64.manylinux2014_x86_64.whl");
  auto abi3 = rank("x-1.0-cp39-abi3-manylinux_2_28_x86_64.whl");
  auto pure = rank("x-1.0-py3-none-any.whl");
  REQUIRE(native);
  REQUIRE(abi3);
  REQUIRE(pure);
  CHECK(*native < *abi3);
  CHECK(*abi3 < *pure);
  CHECK(*rank("x-1.0-cp314-cp314-manylinux_2_28_x86_64.whl") < *native);  // newer glibc level first
  CHECK_FALSE(rank("x-1.0-cp314-cp314-manylinux_2_39_x86_64.whl"));      // newer than the target's glibc
  CHECK_FALSE(rank("x-1.0-cp314-cp314-musllinux_1_2_x86_64.whl"));
  CHECK_FALSE(rank("x-1.0-cp314-cp314t-manylinux_2_17_x86_64.whl"));
  CHECK_FALSE(rank("x-1.0-cp313-cp313-manylinux_2_17_x86_64.whl"));
  CHECK_FALSE(rank("x-1.0-cp314-cp314-win_amd64.whl"));
  Target musl = cp("3.14");
  musl.libc = "musl";
  musl.libc_version = "1.2";
  CHECK(TagRanker(musl).rank(*WheelName::parse("x-1.0-cp314-cp314-musllinux_1_1_x86_64.whl")));
}

TEST_CASE("uv.lock selection follows extras and markers and picks one wheel each") {
  test::TestDir dir;
  const char* text = R"(version = 1
revision = 3
requires-python = ">=3.11"

[[package]]
name = "app"
version = "0.1.0"
source = { virtual = "." }
dependencies = [
    { name = "Tiny_Dep", extra = ["fast"] },
    { name = "winonly", marker = "sys_platform == 'win32'" },
]

[package.dev-dependencies]
dev = [{ name = "devtool" }]

[[package]]
name = "tiny-dep"
version = "1.0"
source = { registry = "https://pypi.org/simple" }
dependencies = [{ name = "base" }]
wheels = [
    { url = "https://x/tiny_dep-1.0-py3-none-any.whl", hash = "sha256:aa" },
    { url = "https://x/tiny_dep-1.0-cp311-cp311-manylinux_2_17_x86_64.whl", hash = "sha256:bb" },
]

[package.optional-dependencies]
fast = [{ name = "speedup" }]

[[package]]
name = "base"
version = "2.0"
source = { registry = "https://pypi.org/simple" }
sdist = { url = "https://x/base-2.0.tar.gz", hash = "sha256:cc" }

[[package]]
name = "speedup"
version = "3.0"
source = { registry = "https://pypi.org/simple" }
wheels = [{ path = "speedup-3.0-py3-none-any.whl", hash = "sha256:dd" }]

[[package]]
name = "winonly"
version = "1.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "devtool"
version = "1.0"
source = { registry = "https://pypi.org/simple" }
)";
  auto lock = UvLock::parse(text, "uv.lock");
  REQUIRE_MESSAGE(lock, (lock ? "" : lock.error().message));
  auto root = lock->root();
  REQUIRE(root);
  CHECK((*root)->name == "app");
  auto sel = select_packages(*lock, **root, cp("3.11"), {});
  REQUIRE_MESSAGE(sel, (sel ? "" : sel.error().message));
  std::vector<std::string> names;
  for (const auto& s : *sel) names.push_back(s.package->name);
  CHECK(names == std::vector<std::string>{"base", "speedup", "tiny-dep"});
  CHECK((*sel)[0].skip_reason.find("sdist only") != std::string::npos);
  CHECK((*sel)[1].wheel->file == "speedup-3.0-py3-none-any.whl");
  CHECK((*sel)[2].wheel->hash == "sha256:bb");
  SUBCASE("a group adds its packages") {
    auto with_dev = select_packages(*lock, **root, cp("3.11"), {.extras = {}, .groups = {"dev"}, .include_root = false});
    REQUIRE(with_dev);
    CHECK(with_dev->size() == 4);
  }
  SUBCASE("an unknown extra or group is a clear error") {
    auto bad = select_packages(*lock, **root, cp("3.11"), {.extras = {"nope"}, .groups = {}, .include_root = false});
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message.find("'nope' is not an extra of app") != std::string::npos);
  }
}

TEST_CASE("a lockfile out of sync with pyproject.toml names the missing dependency") {
  test::TestDir dir;
  test::write(dir / "pyproject.toml", "[project]\nname = \"app\"\ndependencies = [\"tiny-dep>=1\", \"requests[socks]==2\"]\n");
  auto project = PyProject::load(dir / "pyproject.toml");
  REQUIRE(project);
  LockPackage root;
  root.name = "app";
  root.requires_dist = {"tiny-dep"};
  auto r = check_in_sync(*project, root, "py/uv.lock");
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "py/uv.lock is out of sync with pyproject.toml: requests not locked (run `uv lock`)");
}

TEST_CASE("a malformed uv.lock is an error with line and column") {
  auto r = UvLock::parse("version = 1\n[[package]\nname = 'x'\n", "py/uv.lock");
  REQUIRE_FALSE(r);
  CHECK(r.error().message.rfind("py/uv.lock:2:", 0) == 0);
  auto v = UvLock::parse("version = 2\n", "py/uv.lock");
  REQUIRE_FALSE(v);
  CHECK(v.error().message.find("lock version 2 is not supported") != std::string::npos);
  // Found by fuzzing: a float version was converted to an integer, undefined when out of range.
  auto f = UvLock::parse("version =3333333e31\n", "py/uv.lock");
  REQUIRE_FALSE(f);
  CHECK(f.error().message.find("not an integer") != std::string::npos);
}

// Found by fuzzing: toml++ 3.3 reaches __builtin_unreachable() on a non-ASCII character where
// its lexer looks for whitespace. uv.lock text is refused with the position of its first
// non-ASCII character before the parser sees it; a \u escape in a string still works.
TEST_CASE("a non-ASCII character in uv.lock is refused with its position") {
  for (std::string text : {"\xEF\xBA\xBF", "version = 1 \xC3\xA9\n", "version = 1\nx = \xE3\x81\x82\n",
                           "ve=3E['&\xEF\xBB\xBC", "version = 1 # caf\xC3\xA9\n"}) {
    auto r = UvLock::parse(text, "py/uv.lock");
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("non-ASCII character") != std::string::npos);
  }
  auto at = UvLock::parse("version = 1\nname = 'ok'  \xC3\xA9\n", "py/uv.lock");
  REQUIRE_FALSE(at);
  CHECK(at.error().message.rfind("py/uv.lock:2:14: non-ASCII", 0) == 0);
  auto fine = UvLock::parse("\xEF\xBB\xBFversion = 1\n[[package]]\nname = \"caf\\u00e9\"\n", "py/uv.lock");
  CHECK_MESSAGE(fine, (fine ? "" : fine.error().message));
}

TEST_CASE("the authentik uv.lock selects wheels for CPython 3.14 on manylinux x86_64") {
  auto fixtures = test::fixtures_dir();
  REQUIRE(fixtures);
  auto lock = UvLock::load(*fixtures / "authentik" / "uv.lock");
  REQUIRE_MESSAGE(lock, (lock ? "" : lock.error().message));
  CHECK(lock->packages.size() == 268);
  auto root = lock->root();
  REQUIRE(root);
  CHECK((*root)->name == "authentik");
  auto sel = select_packages(*lock, **root, cp("3.14"), {});
  REQUIRE_MESSAGE(sel, (sel ? "" : sel.error().message));
  std::map<std::string, const Selected*> by;
  for (const auto& s : *sel) by[s.package->name] = &s;
  CHECK(sel->size() > 120);
  CHECK(sel->size() < 200);
  REQUIRE(by.count("cryptography"));
  REQUIRE(by.at("cryptography")->wheel);
  CHECK(by.at("cryptography")->wheel->file.find("manylinux") != std::string::npos);
  CHECK(by.at("cryptography")->wheel->file.find("x86_64") != std::string::npos);
  REQUIRE(by.count("django"));
  CHECK(by.at("django")->wheel->file == "django-5.2.11-py3-none-any.whl");
  CHECK(by.count("colorama") == 0);                      // win32 only
  CHECK(by.count("pytest") == 0);                        // dev group
  CHECK(by.count("boto3") == 1);                         // through django-storages[s3]
  CHECK(by.at("psycopg-c")->skip_reason.find("sdist only") != std::string::npos);
  CHECK(by.at("ak-guardian")->skip_reason.find("editable") != std::string::npos);
  CHECK(by.at("opencontainers")->skip_reason.find("git") != std::string::npos);
}

TEST_CASE("python-deps plans a dry run over the authentik uv.lock without pyproject.toml") {
  auto fixtures = test::fixtures_dir();
  REQUIRE(fixtures);
  test::TestDir dir;
  std::filesystem::copy_file(*fixtures / "authentik/uv.lock", dir / "uv.lock");
  v1::PythonDepsParams p;
  p.set_backend("pip");
  p.set_python_version("3.14");
  p.set_dry_run(true);
  auto plan = test::plan_kind("python-deps", p, dir.path());
  REQUIRE_MESSAGE(plan, (plan ? "" : plan.error().message));
  CHECK_FALSE(plan->fetch);
  CHECK(plan->outputs == std::vector<std::string>{".venv/"});
  CHECK(std::find(plan->extra_key_lines.begin(), plan->extra_key_lines.end(),
                  "target: cp314-manylinux_2_36_x86_64 python 3.14") != plan->extra_key_lines.end());
  SUBCASE("installing it with pip fails on the first package that has no wheel") {
    p.set_dry_run(false);
    p.set_find_links("wheels");
    auto r = test::plan_kind("python-deps", p, dir.path());
    REQUIRE_FALSE(r);
    CHECK(test::contains(r.error().message, "sdist only); the pip backend installs wheels only"));
  }
}

TEST_CASE("python-deps rejects a missing or out-of-sync lockfile and bad targets") {
  test::TestDir dir;
  v1::PythonDepsParams p;
  p.set_directory("py");
  p.set_backend("pip");
  p.set_python_version("3.11");
  p.set_find_links("py/wheels");
  test::write(dir / "py/pyproject.toml", "[project]\nname = \"app\"\ndependencies = [\"tinydep\", \"requests\"]\n");
  auto error = [&] {
    auto r = test::plan_kind("python-deps", p, dir.path());
    REQUIRE_FALSE(r);
    return r.error().message;
  };
  CHECK(error() == "python-deps: py/uv.lock: no such lockfile (run `uv lock`)");
  test::write(dir / "py/uv.lock", "version = 1\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\nsource = { virtual = \".\" }\n"
                                  "dependencies = [{ name = \"tinydep\" }]\n\n[package.metadata]\nrequires-dist = [{ name = \"tinydep\" }]\n\n"
                                  "[[package]]\nname = \"tinydep\"\nversion = \"0.1.0\"\nsource = { registry = \"wheels\" }\n"
                                  "wheels = [{ path = \"tinydep-0.1.0-py3-none-any.whl\", hash = \"sha256:00\" }]\n");
  CHECK(error() == "python-deps: py/uv.lock is out of sync with pyproject.toml: requests not locked (run `uv lock`)");
  test::write(dir / "py/pyproject.toml", "[project]\nname = \"app\"\ndependencies = [\"tinydep>=0.1\"]\n");
  p.set_python_version("2.7");
  CHECK(error() == "python-deps: with: python-version: '2.7' is not a Python 3 version like 3.14");
  p.set_python_version("3.11");
  p.set_backend("conda");
  CHECK(error() == "python-deps: with: backend: 'conda' is not auto, uv or pip");
  p.set_backend("pip");
  p.clear_find_links();
  CHECK(error() == "python-deps: with: the pip backend needs one of find_links or index_url");
  p.set_find_links("py/wheels");
  auto plan = test::plan_kind("python-deps", p, dir.path());
  REQUIRE_MESSAGE(plan, (plan ? "" : plan.error().message));
  CHECK(plan->fetch);
  CHECK(plan->outputs == std::vector<std::string>{"py/.venv/"});
}

TEST_CASE("python-deps backend uv needs uv on PATH and says where it comes from") {
  test::TestDir dir;
  v1::PythonDepsParams p;
  p.set_backend("uv");
  std::filesystem::create_directories(dir / "empty-bin");
  test::ScopedPath path((dir / "empty-bin").string());
  auto r = test::plan_kind("python-deps", p, dir.path());
  REQUIRE_FALSE(r);
  CHECK(r.error().message ==
        "python-deps: uv not found on PATH (install the uv binary from https://docs.astral.sh/uv/; it is not packaged by Debian or npm)");
}
