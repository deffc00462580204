#pragma once
// Helpers for the build-kind tests: planning a kind directly, and PATH overrides.

#include <cstdlib>
#include <string>

#include "steps/registry.hh"
#include "tests/support/test_support.hh"

namespace akbuild::test {

inline Result<steps::StepPlan> plan_kind(std::string_view kind, const google::protobuf::Message& params,
                                         const std::filesystem::path& workspace) {
  auto step = steps::find_kind(kind);
  if (!step) return fail(step.error());
  return (*step)->plan(params, steps::PlanContext{"test", workspace, "x86_64-linux", {}, false});
}

// Sets PATH for one scope and restores it.
class ScopedPath {
public:
  explicit ScopedPath(const std::string& value) {
    if (const char* p = std::getenv("PATH")) m_old = p;
    ::setenv("PATH", value.c_str(), 1);
  }
  ~ScopedPath() { ::setenv("PATH", m_old.c_str(), 1); }
  ScopedPath(const ScopedPath&) = delete;
  ScopedPath& operator=(const ScopedPath&) = delete;

private:
  std::string m_old;
};

// PATH with the npm tools the project installs (AKBUILD_TOOLS) in front.
inline std::string path_with_tools() {
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin";
  if (const char* tools = std::getenv("AKBUILD_TOOLS")) path = std::string(tools) + ":" + path;
  return path;
}

inline bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

} // namespace akbuild::test
