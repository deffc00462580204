#pragma once
// Remote actions (`uses: owner/repo[/path]@ref`, or `https://host/owner/repo[/path]@ref`), as act
// resolves them: cloned from `<default actions URL>/owner/repo` (or the given host), here into
// `<area>/<host>/<owner>/<repo>/<commit>` (the cache dir's remote-actions area), so a ref that
// moves fetches again and a commit already there is used without the network.

#include <filesystem>
#include <map>
#include <string>

#include "runner/core/result.hh"

namespace akbuild::workflow {

struct RemoteAction {
  std::string url;        // the repository to clone
  std::string ref;
  std::string path;       // inside the repository; may be empty
};

// The parts of a `uses:` value; invalid_argument when it is not a remote action reference.
Result<RemoteAction> parse_remote_action(const std::string& uses, const std::string& default_url);

// The action's folder in the cache, cloned at the commit `ref` names now. unavailable, naming
// the repository and git's reason, when it cannot be reached (an offline host).
Result<std::filesystem::path> fetch_remote_action(const RemoteAction& action, const std::filesystem::path& area,
                                                  const std::map<std::string, std::string>& env);

} // namespace akbuild::workflow
