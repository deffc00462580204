#pragma once
// Planning, in two phases. prepare_steps validates every step of a run before anything runs
// (kinds, `with:` keys, globs, output paths, deps, env, tools, cycles): any fault fails the whole run with
// invalid_argument. key_step then builds one step's manifest and action key once the output
// trees of its deps are known (a dep's outputs are part of its dependents' keys).

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <google/protobuf/message.h>

#include "runner/cas/action_record.hh"
#include "runner/core/glob.hh"
#include "runner/engine/engine.hh"
#include "runner/engine/inputs.hh"
#include "runner/engine/tools.hh"
#include "steps/step_kind.hh"

namespace akbuild::cas {
class CacheDir;
}

namespace akbuild::engine {

class PinFile;

struct PreparedStep {
  std::size_t index = 0;
  StepRequest request;
  const steps::StepKind* kind = nullptr;  // the kind named by request.kind
  std::unique_ptr<google::protobuf::Message> params;
  steps::StepPlan plan;
  std::vector<std::size_t> deps;  // indices into the run's steps
  std::string pin;                // with: hash, else akbuild.lock; empty if none
  std::map<std::string, std::string> locked;  // plan.locked_refs pinned in akbuild.lock -> digest
  // Ids of the steps `with: tools:` names (also in plan.deps): their directory outputs, `bin/`
  // where they hold one, go first on the step's PATH, readable in its sandbox.
  std::vector<std::string> toolchains;
  std::optional<GlobSet> globs;   // inputs minus excludes and every declared output of the run
};

// Validates and orders nothing; deps are resolved to indices; kinds are looked up in `kinds`.
// Errors: invalid_argument; permission_denied when `confined` (EngineOptions::confined) and a
// step names a tool by path or a kind refuses what it would read of the host.
Result<std::vector<PreparedStep>> prepare_steps(const std::vector<StepRequest>& requests,
                                                const std::filesystem::path& workspace, const PinFile& pins,
                                                const std::string& platform,
                                                const std::vector<const steps::StepKind*>& kinds, bool confined);

struct KeyedStep {
  std::string manifest;
  cas::Digest key;                // sha256 of the manifest
  // A fetch step's key by what it reads (params, inputs, deps, tools, env, platform), not by its
  // pin: `akbuild pin update` finds its last fetch with the same inputs there. Empty otherwise.
  std::optional<cas::Digest> inputs_key;
  std::vector<InputFile> inputs;
  WholeDirs whole_dirs;  // input directories every entry of which is an input
  std::map<std::string, ToolInfo> tools;
  std::vector<std::filesystem::path> toolchain_bins;   // PATH entries of the toolchains, in order
  std::vector<std::filesystem::path> toolchain_roots;  // their output directories (bound read-only)
};

// The manifest and key of `step`, given each dep's stored result (same order as step.deps).
Result<KeyedStep> key_step(const PreparedStep& step, const std::vector<const cas::ActionRecord*>& dep_results,
                           const std::vector<const PreparedStep*>& dep_steps, cas::CacheDir& cache,
                           const std::filesystem::path& workspace, const std::string& platform);

// The manifest lines that identify a fetch step's result: kind, schema, params (but `hash`),
// platform, pin. Inputs, tools and env are not keyed (like a Nix fixed-output derivation).
std::string fetch_manifest(const PreparedStep& step, const std::string& platform, const std::string& pin);

// The PATH given to steps: the toolchains' directories, those of declared tools, then the system's.
std::string sandbox_path(const KeyedStep& keyed);

// Splits a `with: tools:` value: entries naming a step of `ids` (but `self`) are toolchain steps,
// the rest program names left for the kind. invalid_argument when the list does not parse.
struct ToolsSplit {
  std::vector<std::string> toolchains;
  std::vector<std::string> programs;
};
Result<ToolsSplit> split_tools(const std::string& value, const std::set<std::string>& ids, const std::string& self,
                               std::string_view kind);

} // namespace akbuild::engine
