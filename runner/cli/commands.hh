#pragma once
// The `akbuild` command line: each subcommand lives in its own file and registers itself here
// through one explicit function (no static registration).

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "runner/core/result.hh"
#include "runner/exec/sandbox.hh"

namespace akbuild::cli {

// Options every subcommand sees.
struct GlobalOptions {
  std::string cache_dir;  // --cache-dir; empty = AKBUILD_CACHE_DIR, else XDG default
  bool json = false;      // --json: one event object per line
  int verbose = 0;        // -v, -vv
  int exit_status = 0;    // set by the subcommand that ran
};

// The cache dir by DESIGN.md's rule: --cache-dir, AKBUILD_CACHE_DIR, $XDG_CACHE_HOME/akbuild,
// ~/.cache/akbuild.
std::filesystem::path resolve_cache_dir(const GlobalOptions& options);

// Prints the error as one line on stderr and returns its exit status (2 for usage, parse and
// validation errors, 1 otherwise). The only place where ErrorCode meets exit statuses.
int report_error(const Error& error);
int exit_status_for(ErrorCode code);

// `--with KEY=VALUE` items (repeatable) as a map; invalid_argument naming a malformed item.
Result<std::map<std::string, std::string>> parse_with_values(const std::vector<std::string>& items);
// "auto" | "require" | "off" (CLI11 checks the spelling).
exec::SandboxMode parse_sandbox_mode(const std::string& name);

void add_nix_command(CLI::App& app, GlobalOptions& options);
void add_step_command(CLI::App& app, GlobalOptions& options);
void add_cache_command(CLI::App& app, GlobalOptions& options);
void add_pin_command(CLI::App& app, GlobalOptions& options);
void add_act_command(CLI::App& app, GlobalOptions& options);
void add_expr_command(CLI::App& app, GlobalOptions& options);
void add_serve_command(CLI::App& app, GlobalOptions& options);
void add_oci_command(CLI::App& app, GlobalOptions& options);

} // namespace akbuild::cli
