#include <doctest/doctest.h>

#include "runner/engine/pins.hh"
#include "runner/engine/planner.hh"
#include "steps/registry.hh"
#include "tests/support/test_support.hh"

using namespace akbuild;
using namespace akbuild::engine;
namespace fs = std::filesystem;

namespace {

// prepare_steps on one step of a real kind in `ws`; the error message, or "" when it plans.
std::string prepare_error(const fs::path& ws, const std::string& kind, std::map<std::string, std::string> with) {
  auto pins = PinFile::load(ws);
  REQUIRE(pins);
  auto r = prepare_steps({StepRequest{"s", kind, std::move(with)}}, ws, *pins, "x86_64-linux", steps::all_kinds(), false);
  if (r) return "";
  CHECK(r.error().code == ErrorCode::invalid_argument);
  return r.error().message;
}

} // namespace

TEST_CASE("the planner checks deps of every kind: an empty step id is named as such") {
  test::TestDir dir;
  if (!test::have_program("go")) {
    MESSAGE("go is not installed");
    return;
  }
  // go-build has no check of its own for deps.
  test::write(dir / "go.mod", "module example.com/x\n\ngo 1.19\n");
  test::write(dir / "main.go", "package main\n\nfunc main() {}\n");
  CHECK(prepare_error(dir.path(), "go-build", {}) == "");
  CHECK(prepare_error(dir.path(), "go-build", {{"deps", "['']"}}) == "step 's': go-build: with: deps: an empty step id");
  CHECK(prepare_error(dir.path(), "exec", {{"run", "true"}, {"deps", "['']"}}) ==
        "step 's': exec: with: deps: an empty step id");
}

TEST_CASE("the planner checks env names and values of every kind") {
  test::TestDir dir;
  auto exec_env = [&](const std::string& env) { return prepare_error(dir.path(), "exec", {{"run", "true"}, {"env", env}}); };
  CHECK(exec_env(R"({"A_1": "x"})") == "");
  CHECK(exec_env(R"({"A=B": "x"})") == "step 's': exec: with: env: 'A=B' is not a variable name");
  // A NUL byte would cut the name (or value) short in the process environment.
  CHECK(exec_env(R"({"A\0B": "x"})") == "step 's': exec: with: env: 'A\\0B' is not a variable name");
  CHECK(exec_env(R"({"A": "x\0y"})") == "step 's': exec: with: env: the value of 'A' holds a NUL byte");
}

TEST_CASE("the planner checks tools of every kind: a program name or an absolute path") {
  test::TestDir dir;
  auto exec_tools = [&](const std::string& tools) {
    return prepare_error(dir.path(), "exec", {{"command", "['true']"}, {"tools", tools}});
  };
  CHECK(exec_tools("['true', '/bin/true']") == "");
  CHECK(exec_tools("['']") == "step 's': exec: with: tools: an empty program name");
  CHECK(exec_tools("['bin/tool']") ==
        "step 's': exec: with: tools: 'bin/tool' is neither a program name nor an absolute path");
}
