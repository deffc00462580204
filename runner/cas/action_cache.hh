#pragma once
// The action cache: action key -> the result of running that action once (cas::ActionRecord).
// Records are stored as akbuild.v1.ActionResult messages, converted here and nowhere else, sealed (runner/cas/sealed_record.hh) and stored atomically
// under <cache>/ac/<2 hex>/<key hex>; an entry is written only after every blob it names is in
// the CAS, so a reader never sees a partial result. A shared cache dir may hold records someone
// edited: a record is used only when its seal verifies, it parses completely, it names its own
// key, and its outputs are exactly the step's declared outputs (contained relative paths).
// Also remembers the last manifest per step id, which `--explain` diffs against.

#include <filesystem>
#include <optional>
#include <span>
#include <string>

#include "runner/cas/action_record.hh"
#include "runner/cas/blob_store.hh"
#include "runner/cas/digest.hh"

namespace akbuild::cas {

class ActionCache {
public:
  explicit ActionCache(std::filesystem::path dir) : m_dir(std::move(dir)) {}

  // With a store, put() refuses a record naming a blob (output tree root, log) the store lacks.
  void set_blob_store(BlobStore* blobs) { m_blobs = blobs; }

  // The stored result, nullopt on a miss. A record that is not valid for `key` and the step's
  // `declared_outputs` is removed and reported as ErrorCode::corrupt naming the fault. A hit
  // refreshes the record's mtime, the access time gc orders by.
  Result<std::optional<ActionRecord>> get(const Digest& key, std::span<const std::string> declared_outputs);
  // The record as stored, checked as far as it can be without the step (seal, parse, key, output
  // paths contained); does not count as a use. not_found when absent, corrupt when invalid.
  Result<ActionRecord> read(const Digest& key) const;
  // Writes the record under its key atomically; invalid_argument for an output path outside the
  // workspace, failed_precondition naming the blob if one it names is missing.
  Result<> put(const ActionRecord& record);
  Result<> remove(const Digest& key);

  // The manifest of the last run of step `step_id` (any key), for explain.
  Result<std::optional<std::string>> last_manifest(std::string_view step_id);
  Result<> set_last_manifest(std::string_view step_id, std::string_view manifest);
  // The size in bytes of that manifest (0 if none): a size hint for the next run.
  std::uint64_t last_manifest_size(std::string_view step_id) const;

  // <dir>/<2 hex>/<key hex>.
  std::filesystem::path record_path(const Digest& key) const;
  const std::filesystem::path& dir() const { return m_dir; }

private:
  std::filesystem::path m_dir;
  BlobStore* m_blobs = nullptr;
};

} // namespace akbuild::cas
