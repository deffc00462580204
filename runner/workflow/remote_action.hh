#pragma once
// Remote actions (`uses: owner/repo[/path]@ref`, or `https://host/owner/repo[/path]@ref`) and
// remote reusable workflows (`owner/repo/.forgejo/workflows/x.yml@ref`), as act resolves them:
// cloned from `<default actions URL>/owner/repo` (or the given host), here into the cache dir's
// remote-actions area, `<host>/<owner>/<repo>/<commit>`, so a ref that moves fetches again and a
// commit already there is used without the network.

#include <filesystem>
#include <map>
#include <string>

#include "runner/cas/cache_layout.hh"
#include "runner/core/result.hh"

namespace akbuild::workflow {

struct RemoteAction {
  std::string url;        // the repository to clone
  std::string ref;
  std::string path;       // inside the repository; may be empty
};

// The parts of a `uses:` value; invalid_argument when it is not a remote action reference.
Result<RemoteAction> parse_remote_action(const std::string& uses, const std::string& default_url);

// The action's folder (or workflow file) in the cache, cloned at the commit `ref` names now;
// a commit already there has its mtime set to now, its last use for `cache gc`. A clone is made
// in a locked run dir under the cache's tmp/ (so gc takes a killed one for a leftover) and moved
// into place whole. unavailable, naming the repository and git's reason, when it cannot be
// reached (an offline host).
Result<std::filesystem::path> fetch_remote_action(const RemoteAction& action, const cas::CacheLayout& cache,
                                                  const std::map<std::string, std::string>& env);

} // namespace akbuild::workflow
