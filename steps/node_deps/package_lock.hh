#pragma once
// npm's package-lock.json (lockfileVersion 2 or 3; version 1 lacks the "packages" map) and the
// checks node-deps makes before `npm ci`: the lockfile exists, its version is supported, and
// every dependency package.json names is in the lock's root entry (packages[""]), which is what
// `npm ci` refuses later with a long message.
//
//   { "lockfileVersion": 3, "packages": { "": { "name", "dependencies": {..}, "devDependencies",
//     "optionalDependencies", "peerDependencies", "workspaces": [..] },
//     "node_modules/x": { "version", "resolved", "integrity", "link": true, ... }, ... } }

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "runner/core/result.hh"

namespace akbuild::steps::node {

struct PackageLock {
  int lockfile_version = 0;
  std::string name;                        // the root package's name
  std::set<std::string> root_dependencies; // every dependency kind of packages[""]
  std::vector<std::string> workspaces;     // workspace package directories (from link entries)
  std::size_t entries = 0;                 // entries of "packages", the root included

  // Loads and checks `dir/package-lock.json`; `shown` is how messages name the directory.
  static Result<PackageLock> load(const std::filesystem::path& dir, const std::string& shown);
};

// failed_precondition naming the dependencies of `dir/package.json` missing from the lock.
Result<> check_in_sync(const PackageLock& lock, const std::filesystem::path& dir, const std::string& shown);

} // namespace akbuild::steps::node
