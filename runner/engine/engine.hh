#pragma once
// The engine: plans steps (manifest, key, hit/miss, explain), runs them through the cache and
// the sandbox with a DAG scheduler (-j), dedupes identical in-flight actions (also across
// processes sharing the cache dir), and materializes outputs into the workspace.
//
// Usage:
//   auto engine = AK_TRY(Engine::open({.workspace = ws, .cache_dir = dir}));
//   auto results = AK_TRY(engine->run({{.id = "web", .kind = "web-bundle", .with = {...}}}, sink));

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "runner/engine/events.hh"
#include "runner/exec/process.hh"
#include "runner/exec/sandbox.hh"

namespace akbuild {
class TreeWatcher;
}

namespace akbuild::steps {
class StepKind;
}

namespace akbuild::engine {

// A step may take this long at most unless its request says otherwise (forgejo-runner's
// default for a job), so a hung tool does not hold a runner forever.
inline constexpr std::chrono::hours k_default_step_timeout{3};

struct StepRequest {
  std::string id;                              // unique within one run; also the explain history key
  std::string kind;
  std::map<std::string, std::string> with;     // raw `with:` values
  std::chrono::milliseconds timeout{0};        // for the whole step (act's timeout-minutes); 0 = default
  // The command that recomputes its pin, before " --id ID", for hints (empty: `akbuild pin update`,
  // which reads the workspace's workflows); not keyed.
  std::string pin_command{};
};

struct EngineOptions {
  std::filesystem::path workspace;
  std::filesystem::path cache_dir;
  unsigned jobs = 0;                           // 0 = number of cores
  exec::SandboxMode sandbox = exec::SandboxMode::automatic;
  bool explain = false;                        // compute explain lines for misses
  bool update_pins = false;                    // fetch steps run ignoring their pins (akbuild pin update);
                                               // the NAR hash is returned as outputs["nar-hash"]
  std::set<std::string> update_pin_ids{};      // with update_pins: only these (empty: every fetch step)
  bool refetch = false;                        // with update_pins: fetch even when the step's inputs are
                                               // those of an earlier fetch (whose pin is then reused)
  // A remote cache other hosts share (runner/remote): asked on a local miss, given every result
  // that ran unless read-only. Empty: none.
  std::string remote_cache{};                  // grpc[s]://host:port[/instance] or http[s]://host:port[/prefix]
  std::string remote_token{};                  // sent as a bearer token
  bool remote_read_only = false;
  std::vector<const steps::StepKind*> kinds;   // the step kinds known; empty = akbuild's own (steps/registry.hh)
  TreeWatcher* watcher = nullptr;              // a daemon's: outputs found in place are remembered while it
                                               // sees no change under them (present_outputs.hh)
  // A client the daemon confines (a job environment's): its steps name tools by program name only
  // (found on this host's PATH), and read of the host only their workspace and the network
  // (steps::PlanContext::confined): no local file or repository outside it, none of the daemon's
  // registry credentials.
  bool confined = false;
  // The workspace as an open directory, held while the engine lives; `workspace` is then its
  // /proc/self/fd path and is used as it is (not resolved to the path it was opened by), so a
  // confined client that swaps a directory above it for a symlink cannot move the engine's reads
  // and writes. Not for paths handed to other processes: the engine's are its input root and
  // output root, and whole input directories reach bubblewrap as descriptors.
  std::shared_ptr<UniqueFd> pinned_workspace{};
};

struct PlannedStep {
  std::string id, kind;
  std::string key;                             // action key, sha256 hex
  bool hit = false;
  bool remote_hit = false;                     // the hit is the remote cache's
  std::string manifest;
  std::vector<std::string> explain;            // why it misses, one line per changed manifest line
};

struct StepResult {
  std::string id, kind, key;
  bool success = false;
  bool cache_hit = false;
  bool remote_hit = false;                     // the hit came from the remote cache
  bool skipped = false;                        // a dependency failed
  std::map<std::string, std::string> outputs;  // "cache-hit", "key", "path", and kind values ("digest")
  std::vector<std::string> explain;
  std::optional<Error> error;
  std::chrono::milliseconds duration{0};
};

// Plans and runs steps: in this process (Engine::open), or through a daemon
// (runner/service/engine_factory.hh picks one).
class Engine {
public:
  // The in-process engine over options.cache_dir. invalid_argument when the workspace is not a
  // directory; the cache dir's errors when it cannot be opened.
  static Result<std::unique_ptr<Engine>> open(EngineOptions options);
  virtual ~Engine() = default;

  // Validates and keys every step; runs nothing, writes nothing to the cache.
  virtual Result<std::vector<PlannedStep>> plan(const std::vector<StepRequest>& steps) = 0;
  // Runs the steps (independent ones in parallel). Validation errors fail the whole call before
  // anything runs; a step failure is reported in its StepResult and skips its dependents.
  virtual Result<std::vector<StepResult>> run(const std::vector<StepRequest>& steps, EventSink& events,
                                              const exec::CancelToken* cancel = nullptr) = 0;
  virtual const EngineOptions& options() const = 0;
};

} // namespace akbuild::engine
