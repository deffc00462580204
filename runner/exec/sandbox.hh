#pragma once
// The sandbox a step runs in (docs/architecture.md, "A step"): an input root holding only declared inputs,
// read-only; writable output directories; private /tmp and HOME; a clean environment; no
// network unless the step is a pinned fetch. Uses bubblewrap; where bwrap cannot run, a warning
// and a plain process in the staged input root (SandboxMode::require makes that fatal).
//
// Layout inside the sandbox: the input root at /build/ws (the working directory), outputs
// bind-mounted writable at /build/ws/<output>, HOME=/build/home, TMPDIR=/tmp; /usr, /bin, /lib*,
// /etc (selected files) and declared tool directories read-only; /build/script holds a shell
// step's script (see run_sandboxed).
//
// Privileges: every capability is dropped. Run by root, the step runs as uid/gid 65534 in a
// user namespace that maps it to the caller, so it cannot mount or remount anything and its
// files belong to the caller on the host; run by a user, it keeps that user's uid.

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "runner/exec/pids_limit.hh"
#include "runner/exec/process.hh"

namespace akbuild::exec {

enum class SandboxMode { automatic, require, off };

// Whether bubblewrap works on this machine (probed once, cached). `why` gets the reason if not.
// The binary is $AKBUILD_BWRAP (a path or a name) if set, else `bwrap` on PATH; each distinct
// binary is probed once (`bwrap --unshare-all --die-with-parent --ro-bind / / true`).
bool sandbox_available(std::string* why = nullptr);

// A whole input directory a sandbox binds: `host`, through `fd` when one is open (>= 0). The fd is
// the directory as it was when checked (opened beneath the workspace without a symlink): bwrap
// binds it as it is (--ro-bind-fd), so a component swapped for a symlink since cannot bind
// another directory of the host.
struct InputDir {
  std::string rel;             // relative to the input root
  std::filesystem::path host;
  int fd = -1;                 // not owned
};

struct SandboxSpec {
  std::filesystem::path input_root;              // staged inputs (made read-only inside)
  // Whole input directories bound read-only over their place in the input root, where an empty
  // directory must stand; without namespaces, symlinked there.
  std::vector<InputDir> input_dirs;
  std::vector<std::string> outputs;              // workspace-relative output paths (dirs or files)
  std::filesystem::path output_root;             // where outputs are written, same relative layout
  std::vector<std::filesystem::path> ro_binds;   // extra host paths visible read-only (tools)
  bool network = false;                          // only for pinned fetch steps
  SandboxMode mode = SandboxMode::automatic;
  std::string working_directory;                 // relative to the input root
  unsigned max_pids = k_default_max_pids;        // processes at once (pids_limit.hh)
};

struct SandboxResult {
  ProcessResult process;
  bool sandboxed = false;                        // false when the plain-process fallback ran
  std::string fallback_reason;
};

// Runs `spec.argv` inside the sandbox. `process.env` is the declared environment; the sandbox
// adds PATH (if absent), HOME, TMPDIR. `process.cwd` is ignored (the sandbox decides).
// Neither the environment nor a script reaches a command line (/proc/*/cmdline is readable by
// every user): the environment is passed as the environment, and the SCRIPT of
// `bash|sh [OPTIONS] -c SCRIPT [NAME ARGS...]` travels in memory and is sourced from a file.
// Outputs end up under `sandbox.output_root/<output>`: an output ending in '/' (or an existing
// directory) is a directory, else a file; a file output the step did not write is absent.
// Mount points (or, in the fallback, symlinks into output_root) are created in input_root at
// the output paths, shadowing any staged input there.
// Fallback (no bwrap, mode automatic or off): the command runs in input_root itself with a
// private HOME and TMPDIR; outputs reach output_root through those symlinks, and an output the
// step replaced by rename is moved there afterwards. Nothing is protected in the fallback:
// staged inputs are hardlinks, so a step writing them in place writes their sources.
// Fails without running when argv[0] is not found inside the sandbox (the message names it),
// and with failed_precondition when mode is require and bwrap cannot run.
Result<SandboxResult> run_sandboxed(const SandboxSpec& sandbox, ProcessSpec process, const LogCallback& on_line,
                                    const CancelToken* cancel = nullptr);

// A long-lived job environment (a CI job's shell steps, runner/plugin) under bubblewrap: the same
// namespaces, credentials and read-only system dirs and /etc files as a step, /nix when present,
// /etc/resolv.conf with the network; every bind below; a tmpfs root elsewhere.
struct JobSandboxSpec {
  struct Bind {
    std::filesystem::path host;
    std::filesystem::path inside;
    bool writable = false;
  };
  std::vector<Bind> binds;
  bool network = true;
  std::filesystem::path chdir;                   // inside
};

// The bwrap argv that runs `argv` in such a sandbox; failed_precondition when bubblewrap cannot
// run here (sandbox_available), not_found naming a bind source that does not exist.
Result<std::vector<std::string>> job_sandbox_argv(const JobSandboxSpec& spec, const std::vector<std::string>& argv);

// Where a path inside such a sandbox lies on the host (judging what a program name resolves
// to), or nullopt when the sandbox shows nothing there.
std::optional<std::filesystem::path> job_sandbox_host_path(const JobSandboxSpec& spec,
                                                           const std::filesystem::path& inside);

// Stages files into an input root: each (relative path -> absolute source) hardlinked where
// possible, else copied (reflink, else copy_file_range); directories created; symlinks
// recreated verbatim. A path that escapes the root (`..`, absolute) is invalid_argument, and
// nothing is ever written through a symlink inside the root.
Result<> stage_inputs(const std::filesystem::path& input_root,
                      const std::map<std::string, std::filesystem::path>& files);

// As stage_inputs, each source being `source_root/rel`, reached beneath source_root without
// following a symlink on the way (a directory swapped for one since the inputs were listed fails
// the step, naming it, instead of staging what it points to) and read without following the last
// component either: a workspace's own symlinks are staged as symlinks.
Result<> stage_inputs_beneath(const std::filesystem::path& input_root, const std::filesystem::path& source_root,
                              const std::vector<std::string>& rels);

} // namespace akbuild::exec
