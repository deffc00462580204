// The akbuild/step action's inputs: what a runner passes on to the action is only what
// action.yml declares, so it must declare every parameter in both spellings workflows use.
#include <doctest/doctest.h>

#include <regex>
#include <set>
#include <sstream>

#include <google/protobuf/descriptor.h>

#include "steps/action_yml.hh"
#include "steps/registry.hh"

using namespace akbuild;

namespace {

// The names under `inputs:` (two-space indented keys up to the next top-level key).
std::set<std::string> declared_inputs(const std::string& yml) {
  std::set<std::string> out;
  std::istringstream in(yml);
  bool inside = false;
  static const std::regex key(R"(^  ([A-Za-z0-9_-]+):$)");
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] != ' ' && line[0] != '#') inside = line == "inputs:";
    std::smatch m;
    if (inside && std::regex_match(line, m, key)) out.insert(m[1]);
  }
  return out;
}

std::string dashed(std::string s) {
  for (char& c : s)
    if (c == '_') c = '-';
  return s;
}

} // namespace

TEST_CASE("action.yml declares the action's own inputs and every kind's parameters, dashed and underscored") {
  std::set<std::string> expected{"kind", "id", "explain", "mask", "executor", "akbuild"};
  for (const auto* step : steps::all_kinds()) {
    const auto* message = step->params_prototype().GetDescriptor();
    for (int i = 0; i < message->field_count(); ++i) {
      expected.insert(message->field(i)->name());
      expected.insert(dashed(message->field(i)->name()));
    }
  }
  CHECK(declared_inputs(steps::action_yml()) == expected);
  for (const char* own : {"kind", "id", "explain", "mask", "executor", "akbuild"}) CHECK(steps::is_action_input(own));
  CHECK_FALSE(steps::is_action_input("find_links"));
}

TEST_CASE("action.yml's step reads a dashed input when the underscored one is empty") {
  auto yml = steps::action_yml();
  CHECK(yml.find("AKBUILD_IN_find_links: ${{ inputs.find_links || inputs.find-links }}") != std::string::npos);
  // Inside the composite GITHUB_ACTION is its own step's id: the id comes from the input, whose
  // default the runner evaluates in the workflow step's context.
  CHECK(yml.find("default: '${{ github.action }}'") != std::string::npos);
  CHECK(yml.find("GITHUB_ACTION:-") == std::string::npos);
}
