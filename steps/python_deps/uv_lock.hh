#pragma once
// uv.lock (uv's TOML lockfile, `version = 1`): what akbuild reads of it, and the selection of
// the packages and wheels one target installs.
//
//   version = 1            revision = N             requires-python = "..."
//   [[package]]  name, version, source = { registry = URL | editable = PATH | virtual = PATH
//                | git = URL | path = PATH | directory = PATH | url = URL }
//                dependencies = [ { name, extra = [..], marker = "...", version, source } ]
//                [package.optional-dependencies] EXTRA = [ dep... ]
//                [package.dev-dependencies]      GROUP = [ dep... ]
//                sdist = { url | path, hash, size }   wheels = [ { url | path, hash, size } ]
//                [package.metadata] requires-dist = [ { name, ... } ]
//
// The root project is the package whose source is `editable = "."` or `virtual = "."` (or the
// one named by pyproject.toml's project.name); its dependencies, extras and groups come from
// its own [[package]] entry, so selection needs no pyproject.toml.

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "runner/core/result.hh"
#include "steps/python_deps/wheel_tags.hh"

namespace akbuild::steps::python {

struct LockDependency {
  std::string name;                      // normalised
  std::vector<std::string> extras;       // normalised
  std::string marker;                    // empty = always
  std::string version;                   // set when the lock holds several versions of the name
};

struct LockFile {
  std::string file;                      // the wheel's file name
  std::string url;                       // url or path as written
  std::string hash;                      // "sha256:..."
};

struct LockPackage {
  std::string name;                      // normalised
  std::string version;
  std::string source_kind;               // registry | editable | virtual | git | path | directory | url
  std::string source;
  std::vector<LockDependency> dependencies;
  std::map<std::string, std::vector<LockDependency>> optional_dependencies;
  std::map<std::string, std::vector<LockDependency>> dev_dependencies;
  std::vector<std::string> requires_dist;  // normalised names from [package.metadata]
  std::optional<LockFile> sdist;
  std::vector<LockFile> wheels;
};

struct UvLock {
  int version = 0;
  std::string requires_python;
  std::vector<LockPackage> packages;

  // Parses uv.lock text; `where` names the file in messages (with line and column).
  static Result<UvLock> parse(std::string_view text, const std::string& where);
  static Result<UvLock> load(const std::filesystem::path& path);
  // The root project: `name` if given, else the package at source "." (editable or virtual).
  Result<const LockPackage*> root(const std::string& name = {}) const;
};

// One package the target installs, with its chosen wheel (or why there is none).
struct Selected {
  const LockPackage* package = nullptr;
  std::optional<LockFile> wheel;         // the best wheel for the target
  std::string skip_reason;               // set when it is not installed from a wheel
};

struct SelectOptions {
  std::vector<std::string> extras;       // of the root project
  std::vector<std::string> groups;       // dependency groups of the root project
  bool include_root = false;             // uv's --no-install-project is the default
};

// Walks the dependency graph from the root for `target` (markers evaluated, extras followed),
// sorted by name. Editable, virtual, git and directory packages are listed with a skip reason
// (their dependencies are still followed); registry packages get their best wheel, or a skip
// reason when only an sdist fits.
Result<std::vector<Selected>> select_packages(const UvLock& lock, const LockPackage& root, const Target& target,
                                              const SelectOptions& options);

// pyproject.toml's [project] name and dependency names (normalised), for the sync check.
struct PyProject {
  std::string name;
  std::vector<std::string> dependencies;
  static Result<PyProject> load(const std::filesystem::path& path);
};

// failed_precondition when pyproject.toml names a dependency that the lock's root entry lacks.
Result<> check_in_sync(const PyProject& project, const LockPackage& root, const std::string& lock_path);

} // namespace akbuild::steps::python
