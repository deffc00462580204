#pragma once
// A step kind: one typed action. Each kind is one class in steps/<kind>/, listed explicitly in
// steps/registry.cc (no self-registration). Its parameters are a message in
// proto/akbuild/v1/steps.proto; the engine maps `with:` values onto it (steps/params.hh) before
// the kind sees them, so a kind only validates meaning, never syntax.
//
// Life of a step: plan() says what it reads (globs, deps, tools, env) and writes (outputs); the
// engine hashes that into the manifest and key; on a miss it stages the inputs and calls run().

#include <filesystem>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/message.h>

#include "runner/core/result.hh"
#include "runner/exec/process.hh"
#include "runner/exec/sandbox.hh"

namespace akbuild::cas {
class CacheDir;
}

namespace akbuild::steps {

// What a step declares before it runs. Everything here is part of the action key.
struct StepPlan {
  std::vector<std::string> inputs;            // workspace globs
  std::vector<std::string> exclude;           // workspace globs removed from inputs
  std::vector<std::string> deps;              // ids of steps whose outputs it reads
  std::vector<std::string> tools;             // programs it runs, resolved on PATH and keyed
  std::map<std::string, std::string> env;     // declared environment
  std::vector<std::string> outputs;           // workspace-relative paths it produces ("dist/")
  std::vector<std::string> extra_key_lines;   // kind-specific key material ("lock: ...")
  bool fetch = false;                         // may use the network; output pinned by NAR hash
  std::string pin;                            // SRI NAR hash when known (with: hash or akbuild.lock)
  // The fetched tree is the same on every platform (Go's modules): `akbuild pin update` writes
  // the pin it computes for the platforms akbuild.lock lists for the step too.
  bool pin_any_platform = false;
  // Registry references the step reads by a tag ("docker://host/repo:tag"): akbuild.lock's
  // `images` pins the digest each resolves to, the planner keys that digest (never the tag's
  // current target), and `akbuild pin update` resolves them again (StepKind::resolve_ref).
  std::vector<std::string> locked_refs;
  // The one output is a file pinned by the sha256 of its bytes (Nix's flat fixed-output hash,
  // fetchurl's) instead of by its NAR.
  bool pin_flat = false;
  bool sandboxed = true;                      // false for kinds that only read inputs (oci-image)
  // True for kinds whose run() only runs commands and reads nothing below input_root() itself:
  // whole input directories may then be bind-mounted read-only instead of staged file by file.
  bool inputs_bindable = false;
  // Input directories run() reads through RunContext::input_dir() rather than the input root
  // (an image's layers): one of which every entry is an input is then not staged at all.
  std::vector<std::string> read_in_place;
  unsigned timeout_seconds = 0;               // limit for each command run(); 0 = none (not keyed)
};

// Given to plan(): read-only facts about the workspace.
struct PlanContext {
  std::string step_id;
  std::filesystem::path workspace;
  std::string platform;                       // "x86_64-linux"
  // The toolchain steps `tools:` names: a program the kind runs may come from one of them (found
  // first on PATH when the step is keyed), so it need not be on the host's PATH now.
  std::vector<std::string> toolchains;
  // The step is a confined client's (a job environment's, runner/service/client_scope.hh): what it
  // may read of the host is its workspace and the network, never a host path the daemon's user
  // can read (a local file or repository a fetch names).
  bool confined;
};

// Given to run(): where inputs are, where outputs go, and how to run commands.
class RunContext {
public:
  virtual ~RunContext() = default;
  virtual const std::string& step_id() const = 0;
  // The staged inputs (declared inputs + dep outputs at their workspace paths). Read-only.
  virtual const std::filesystem::path& input_root() const = 0;
  // Where the step writes its outputs, at their workspace-relative paths.
  virtual const std::filesystem::path& output_root() const = 0;
  // The real workspace (for kinds that do not run sandboxed).
  virtual const std::filesystem::path& workspace() const = 0;
  // Runs a command in the step's sandbox (cwd = the input root, or working_directory within it),
  // streaming its log. A non-zero exit is an ErrorCode::step_failed error naming the command.
  virtual Result<exec::ProcessResult> run(const std::vector<std::string>& argv,
                                          const std::map<std::string, std::string>& extra_env = {},
                                          const std::string& working_directory = {}) = 0;
  // A line in the step's log (not a command's output).
  virtual void log(std::string_view line) = 0;
  virtual cas::CacheDir& cache() = 0;
  virtual const exec::CancelToken* cancel() const = 0;
  // The resolved path of a tool declared in the plan.
  virtual Result<std::filesystem::path> tool(std::string_view name) const = 0;
  // An identifier of exactly what is staged at workspace path `rel`, from digests the engine has
  // already computed (a dep output's tree digest, or a digest over the declared input files under
  // `rel`): equal identifiers mean an equal staged tree, without reading it, as long as
  // input_changed() finds no change. nullopt when it is not known (e.g. a path mixing inputs and
  // dep outputs).
  virtual std::optional<std::string> content_digest(std::string_view rel) const { (void)rel; return std::nullopt; }
  // A directory of StepPlan::read_in_place left in the workspace instead of staged: open as it
  // was checked when keyed (beneath the workspace, no symlink on the way); -1 when it was staged
  // under input_root() as usual. Valid until run() returns.
  virtual int input_dir(std::string_view rel) const { (void)rel; return -1; }
  // How an input at or below `rel` differs now from when it was keyed (a file changed, replaced
  // or gone, an entry added to a directory read in place); nullopt when none did. What was read
  // from them may be cached under content_digest() only when none did after the read.
  virtual std::optional<std::string> input_changed(std::string_view rel) const = 0;
  // The digest akbuild.lock pins for `ref`, one of the plan's locked_refs; nullopt when none.
  virtual std::optional<std::string> locked_ref(std::string_view ref) const { (void)ref; return std::nullopt; }
  // PlanContext::confined, at run time: a local source is opened beneath the workspace without
  // following a symlink, and the daemon's own credentials (registry logins) are not used.
  virtual bool confined() const { return false; }
};

// What run() returns besides the files under output_root.
struct StepOutcome {
  std::map<std::string, std::string> values;  // extra step outputs (e.g. "digest", "ref")
};

class StepKind {
public:
  virtual ~StepKind() = default;
  virtual std::string_view kind() const = 0;
  // Bumped when the kind's behaviour changes in a way that must invalidate old results.
  virtual int schema_version() const = 0;
  // A default instance of the kind's parameter message.
  virtual const google::protobuf::Message& params_prototype() const = 0;
  // Validates the parameters' meaning and declares inputs/outputs. Errors are invalid_argument
  // naming the `with:` key at fault.
  virtual Result<StepPlan> plan(const google::protobuf::Message& params, const PlanContext& ctx) const = 0;
  virtual Result<StepOutcome> run(const google::protobuf::Message& params, RunContext& ctx) const = 0;
  // For `akbuild pin update`: the digest `ref` (one of the plan's locked_refs) resolves to now,
  // with what a build needs of it kept in `cache` so that the pinned digest builds offline.
  virtual Result<std::string> resolve_ref(const google::protobuf::Message& params, const std::string& ref,
                                          cas::CacheDir& cache) const {
    (void)params, (void)cache;
    return fail(ErrorCode::internal, std::string(kind()) + ": cannot resolve " + ref);
  }
};

} // namespace akbuild::steps
