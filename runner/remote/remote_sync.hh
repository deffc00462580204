#pragma once
// Moving action results between the local cache dir and a RemoteCache, in REAPI's shapes
// (reapi_shapes.hh).
// - pull: a remote entry is used only when it parses as akbuild's, names exactly the declared
//   outputs, and every blob it names that the local store lacks is on the server
//   (FindMissingBlobs) and verifies when fetched; then its trees and record are stored locally,
//   so the engine takes it as a local hit.
// - push: uploads only the blobs the server lacks (the outputs, their Trees, the logs, the
//   Action and its Command), then the ActionResult.
// Errors are the caller's to turn into one warning: a remote never fails a build.

#include <optional>
#include <string>
#include <vector>

#include "runner/cas/cache_dir.hh"
#include "runner/remote/remote_cache.hh"

namespace akbuild::remote {

// The record of `key` from the remote, now stored locally; nullopt when the server has no
// usable entry (none, or one naming blobs it lacks). corrupt for an entry or blob that does not
// verify.
Result<std::optional<cas::ActionRecord>> pull_action(RemoteCache& remote, cas::CacheDir& cache, const cas::Digest& key,
                                                     std::string_view kind, const std::vector<std::string>& declared);

// The record of `key` when the remote holds a usable entry with every blob it names (a dry
// run's "remote hit"), with the digests its trees would have locally; reads only the Trees,
// stores nothing.
Result<std::optional<cas::ActionRecord>> probe_action(RemoteCache& remote, const cas::Digest& key,
                                                      std::string_view kind, const std::vector<std::string>& declared);

// Uploads `record` (whose blobs are in `cache`) with `declared` outputs. failed_precondition
// when the remote is read-only.
Result<> push_action(RemoteCache& remote, cas::CacheDir& cache, const cas::ActionRecord& record,
                     const std::vector<std::string>& declared);

} // namespace akbuild::remote
