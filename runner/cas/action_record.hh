#pragma once
// cas::ActionRecord: the result of running one action once, as the engine uses it. It is stored
// as an akbuild.v1.ActionResult (proto/akbuild/v1/cache.proto); the action cache converts
// between the two, so nothing above it reads hex digests or proto maps.

#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "runner/cas/digest.hh"

namespace akbuild::cas {

// One declared output: a Merkle tree (cas/tree.hh). A file output's tree wraps the single file
// or symlink named like its path (store_tree of a non-directory), and is put back as that file.
struct ActionOutput {
  enum class Kind { tree, file };
  Kind kind = Kind::tree;
  Digest digest;
  bool operator==(const ActionOutput&) const = default;
};

struct ActionRecord {
  Digest key;                                   // sha256 of the manifest
  std::string step_id, kind;                    // of the run that stored it (for people reading the cache)
  std::map<std::string, ActionOutput> outputs;  // declared path (workspace-relative, as declared) -> what was there
  std::map<std::string, std::string> values;    // step outputs other than paths (e.g. an image digest)
  std::string nar_hash;                         // SRI NAR hash of the outputs, for fetch steps
  int exit_code = 0;
  std::optional<Digest> stdout_log, stderr_log; // blobs of the step's logs
  std::chrono::system_clock::time_point started{};
  std::chrono::milliseconds duration{0};
  bool operator==(const ActionRecord&) const = default;
};

} // namespace akbuild::cas
