#pragma once
// Building copies of examples/stack with examples/run-main, shared by the stack tests.

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/support/test_support.hh"

namespace akbuild::test {

// How many akbuild steps examples/stack's workflow (and examples/run-main) has.
inline constexpr int stack_steps = 7;

// Runs examples/run-main over a copy of the stack (`dir`/`copy`), with the cache `dir`/`cache`;
// `mode` "act" runs the workflow through `akbuild act`, "step" one `akbuild step` per step.
inline CommandResult run_main(const TestDir& dir, const std::string& copy = "stack",
                                    const std::string& cache = "cache", const std::string& mode = "step") {
  CommandOptions o;
  o.env["AKBUILD_BIN"] = akbuild_bin().string();
  o.env["AKBUILD_CACHE_DIR"] = (dir / cache).string();
  o.env["AKBUILD_EXAMPLE_DIR"] = (dir / copy).string();
  o.env["AKBUILD_EXAMPLE_MODE"] = mode;
  o.env["HOME"] = (dir / "home").string();
  return run({(source_root() / "examples/run-main").string()}, o);
}

// A fresh copy of the example stack at `dir`/`copy`, without anything built.
inline void copy_stack(const TestDir& dir, const std::string& copy) {
  std::filesystem::copy(source_root() / "examples/stack", dir / copy, std::filesystem::copy_options::recursive);
  for (const char* generated : {"py/wheels", "py/.venv", "web/node_modules", "web/dist", "gen", "bin", "image"})
    std::filesystem::remove_all(dir / copy / generated);
}

// The manifest digest of the image a build left in `dir`/`copy`/image.
inline std::string image_digest(const TestDir& dir, const std::string& copy) {
  auto index = nlohmann::json::parse(read(dir / copy / "image/index.json"));
  return index["manifests"][0]["digest"];
}

} // namespace akbuild::test
