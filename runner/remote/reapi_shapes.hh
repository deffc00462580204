#pragma once
// akbuild's results in REAPI v2's own shapes, so a server's tools (and Bazel) understand what
// akbuild stores there:
// - the action key becomes a deterministic Action: its Command runs
//   ["akbuild", "step", KIND, "--key", KEY HEX] with the declared outputs as output_paths, over an
//   empty input root; the action cache is keyed by that Action's digest, which depends on the
//   key and the outputs only (never on a host, workspace or cache path);
// - a record (cas::ActionRecord) becomes an ActionResult: file outputs as OutputFile (or
//   OutputSymlink), tree outputs as OutputDirectory naming a Tree message (root Directory and
//   every child, entries sorted by name); logs as stdout/stderr digests; the kind's values and the
//   NAR hash in execution_metadata.auxiliary_metadata as an akbuild.v1.ActionResult.
// Directory and Tree digests are of their deterministic serialization; file digests are the same
// SHA-256 as in the local CAS, so the blobs are shared as they are.

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "runner/cas/action_record.hh"
#include "runner/cas/blob_store.hh"
#include "runner/remote/remote_cache.hh"

namespace akbuild::remote {

struct ActionShape {
  UploadBlob action, command;  // serialized Action and Command
};
// The Action standing for akbuild action `key` of `kind` with `outputs` (declared paths).
ActionShape action_shape(const cas::Digest& key, std::string_view kind, const std::vector<std::string>& outputs);

struct RemoteResult {
  std::string action_result;       // serialized ActionResult
  std::vector<UploadBlob> blobs;   // every blob it names: files (from the store), Tree messages, logs
};
// `record` in REAPI shapes, its blobs read from `store` (file blobs by their local path).
Result<RemoteResult> to_remote(const cas::ActionRecord& record, cas::BlobStore& store);

// A remote ActionResult taken apart: what to fetch, and how to rebuild the record.
struct RemoteOutput {
  cas::ActionOutput::Kind kind = cas::ActionOutput::Kind::tree;
  std::string tree_message;        // tree outputs: the serialized REAPI Tree (fetched, verified)
  BlobRef tree;                    // its digest
  BlobRef file;                    // file outputs: the content
  bool executable = false;
  std::string symlink_target;      // file outputs that are symlinks
};
struct ParsedResult {
  std::map<std::string, RemoteOutput> outputs;   // by declared path
  std::vector<BlobRef> blobs;                    // file contents and logs it names (not Trees)
  std::optional<BlobRef> stdout_log, stderr_log;
  cas::ActionRecord record;                      // key, kind, values, nar hash, logs; outputs unset
};
// Parses an ActionResult stored for akbuild action `key` whose outputs must be exactly
// `declared` (trailing slashes aside); corrupt naming the fault when it is not one akbuild can
// use (a failed action, other outputs, a missing akbuild record, a malformed digest).
Result<ParsedResult> parse_remote(const std::string& action_result, const cas::Digest& key,
                                  const std::vector<std::string>& declared);
// The REAPI Tree of a tree output, parsed; adds the file blobs it names to `blobs`.
Result<> add_tree_blobs(RemoteOutput& output, std::vector<BlobRef>& blobs);
// Stores a blob, returning its digest: BlobStore::put, or only the digest (a dry run).
using PutBlob = std::function<Result<cas::Digest>(const std::string&)>;
// Stores the local (akbuild.v1.Tree) form of `output` through `store` (its file blobs are
// stored already, or not needed); returns the root's digest. corrupt for a Tree that is not
// well-formed.
Result<cas::Digest> store_local_tree(const RemoteOutput& output, const std::string& path, const PutBlob& store);

} // namespace akbuild::remote
