#pragma once
// The `akbuild` command line: each subcommand lives in its own file and registers itself here
// through one explicit function (no static registration).

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "runner/core/result.hh"
#include "runner/engine/engine.hh"

namespace akbuild::cli {

// Options every subcommand sees.
struct GlobalOptions {
  std::string cache_dir;  // --cache-dir; empty = AKBUILD_CACHE_DIR, else XDG default
  bool json = false;      // --json: one event object per line
  int verbose = 0;        // -v, -vv
  int exit_status = 0;    // set by the subcommand that ran
};

// The cache dir by the README's rule: --cache-dir, AKBUILD_CACHE_DIR, $XDG_CACHE_HOME/akbuild,
// ~/.cache/akbuild.
std::filesystem::path resolve_cache_dir(const GlobalOptions& options);

// Prints the error as one line on stderr and returns its exit status (2 for usage, parse and
// validation errors, 1 otherwise). The only place where ErrorCode meets exit statuses.
int report_error(const Error& error);
int exit_status_for(ErrorCode code);

// "K=V" items (or "K:V" with sep ':') into a map; an item without the separator, or with an
// empty key, is invalid_argument naming `flag` and the item.
Result<std::map<std::string, std::string>> parse_pairs(const std::vector<std::string>& items, char sep,
                                                       std::string_view flag);

// `word` as one shell word: as it is when it needs no quoting, else in single quotes.
std::string shell_word(std::string_view word);

// The values of one of act's files: the one `flag` names (`named`, which must exist), else act's
// default name `fallback` in the workspace when it exists; relative names are the workspace's.
// The `pairs` given on the command line (`pair_flag` K=V) win over the file's.
Result<std::map<std::string, std::string>> act_values(const std::vector<std::string>& pairs, std::string_view pair_flag,
                                                      std::string_view flag, const std::string& named,
                                                      const char* fallback, const std::filesystem::path& workspace);

// One step given on the command line: what `akbuild step` and `akbuild pin update` share.
struct StepInvocation {
  std::string kind;
  std::vector<std::string> with;  // KEY=VALUE items
  std::string id;                 // default: the kind
  bool json = false;
  unsigned jobs = 0;
  std::string sandbox = "auto";
  std::string workspace;          // default: the current directory
};
// Adds --with, --id, --json, -j, --sandbox and -C to `cmd` (the kind positional is the caller's).
void add_step_invocation_options(CLI::App* cmd, StepInvocation& invocation);
// The engine request it names; invalid_argument naming a malformed --with item.
Result<engine::StepRequest> step_request(const StepInvocation& invocation);
// The engine options it names, with the cache dir of `global`.
engine::EngineOptions engine_options(const StepInvocation& invocation, const GlobalOptions& global);

// --remote-cache, --remote-token-file, --remote-read-only, which step, act, serve and the runner share.
struct RemoteFlags {
  std::string url, token_file;
  bool read_only = false;
};
void add_remote_options(CLI::App* cmd, RemoteFlags& flags);
// Sets the remote cache of `options` from the flags, else AKBUILD_REMOTE_CACHE,
// AKBUILD_REMOTE_TOKEN_FILE and AKBUILD_REMOTE_READ_ONLY=1; invalid_argument naming a token
// file that cannot be read.
Result<> apply_remote_flags(const RemoteFlags& flags, engine::EngineOptions& options);
// The engine factory `act` and the runner hand the workflow layer: service::open_engine with the
// remote cache the flags (or the environment) name.
using EngineOpener = std::function<Result<std::unique_ptr<engine::Engine>>(engine::EngineOptions)>;
Result<EngineOpener> engine_opener(const RemoteFlags& flags);

void add_nix_command(CLI::App& app, GlobalOptions& options);
void add_step_command(CLI::App& app, GlobalOptions& options);
void add_cache_command(CLI::App& app, GlobalOptions& options);
void add_pin_command(CLI::App& app, GlobalOptions& options);
void add_act_command(CLI::App& app, GlobalOptions& options);
void add_expr_command(CLI::App& app, GlobalOptions& options);
void add_serve_command(CLI::App& app, GlobalOptions& options);
void add_oci_command(CLI::App& app, GlobalOptions& options);
void add_plugin_command(CLI::App& app, GlobalOptions& options);
void add_runner_command(CLI::App& app, GlobalOptions& options);

} // namespace akbuild::cli
