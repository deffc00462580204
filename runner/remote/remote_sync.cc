#include "runner/remote/remote_sync.hh"

#include <algorithm>

#include "runner/remote/reapi_shapes.hh"

namespace akbuild::remote {

namespace {

void sort_unique(std::vector<BlobRef>& blobs) {
  std::sort(blobs.begin(), blobs.end());
  blobs.erase(std::unique(blobs.begin(), blobs.end()), blobs.end());
}

// The parsed entry with its Trees read, and every blob it names; nullopt when there is none.
Result<std::optional<ParsedResult>> read_entry(RemoteCache& remote, const cas::Digest& key, std::string_view kind,
                                               const std::vector<std::string>& declared) {
  auto shape = action_shape(key, kind, declared);
  auto bytes = AK_TRY(remote.get_action_result(shape.action.ref));
  if (!bytes) return std::optional<ParsedResult>{};
  auto parsed = AK_TRY(parse_remote(*bytes, key, declared));
  for (auto& [path, output] : parsed.outputs) {
    if (output.kind != cas::ActionOutput::Kind::tree) continue;
    auto tree = remote.read_blob(output.tree);
    // An evicted Tree is a miss like any evicted blob.
    if (!tree && tree.error().code == ErrorCode::not_found) return std::optional<ParsedResult>{};
    output.tree_message = AK_TRY(std::move(tree));
    AK_TRY_VOID(add_tree_blobs(output, parsed.blobs));
  }
  sort_unique(parsed.blobs);
  return std::optional<ParsedResult>(std::move(parsed));
}

} // namespace

Result<std::optional<cas::ActionRecord>> pull_action(RemoteCache& remote, cas::CacheDir& cache, const cas::Digest& key,
                                                     std::string_view kind, const std::vector<std::string>& declared) {
  auto entry = AK_TRY(read_entry(remote, key, kind, declared));
  if (!entry) return std::optional<cas::ActionRecord>{};
  auto& store = cache.blobs();
  std::vector<BlobRef> wanted;
  for (const auto& b : entry->blobs)
    if (!AK_TRY(store.contains(b.digest))) wanted.push_back(b);
  // An entry that outlived blobs it names (evicted) is a miss, found before anything moves
  // where the server answers that in one call, else as the fetch finds one gone; either way no
  // record is written until every blob is here and verified.
  if (remote.batched_find_missing() && !AK_TRY(remote.find_missing(wanted)).empty())
    return std::optional<cas::ActionRecord>{};
  if (auto fetched = remote.fetch(wanted, store, cache.tmp_dir()); !fetched) {
    if (fetched.error().code == ErrorCode::not_found) return std::optional<cas::ActionRecord>{};
    return fail(fetched.error());
  }
  auto record = std::move(entry->record);
  PutBlob put = [&](const std::string& bytes) { return store.put(bytes); };
  for (const auto& [path, output] : entry->outputs)
    record.outputs[path] = {output.kind, AK_TRY(store_local_tree(output, path, put))};
  record.started = std::chrono::system_clock::now();
  AK_TRY_VOID(store.sync());
  AK_TRY_VOID(cache.actions().put(record));
  return std::optional<cas::ActionRecord>(std::move(record));
}

Result<std::optional<cas::ActionRecord>> probe_action(RemoteCache& remote, const cas::Digest& key,
                                                      std::string_view kind, const std::vector<std::string>& declared) {
  auto entry = AK_TRY(read_entry(remote, key, kind, declared));
  if (!entry || !AK_TRY(remote.find_missing(entry->blobs)).empty()) return std::optional<cas::ActionRecord>{};
  auto record = std::move(entry->record);
  PutBlob digest_only = [](const std::string& bytes) -> Result<cas::Digest> { return cas::Digest::of(bytes); };
  for (const auto& [path, output] : entry->outputs)
    record.outputs[path] = {output.kind, AK_TRY(store_local_tree(output, path, digest_only))};
  return std::optional<cas::ActionRecord>(std::move(record));
}

Result<> push_action(RemoteCache& remote, cas::CacheDir& cache, const cas::ActionRecord& record,
                     const std::vector<std::string>& declared) {
  if (remote.options().read_only) return fail(ErrorCode::failed_precondition, remote.options().url + " is read-only");
  auto shape = action_shape(record.key, record.kind, declared);
  auto result = AK_TRY(to_remote(record, cache.blobs()));
  result.blobs.push_back(shape.action);
  result.blobs.push_back(shape.command);
  std::vector<BlobRef> refs;
  for (const auto& b : result.blobs) refs.push_back(b.ref);
  sort_unique(refs);
  auto missing = AK_TRY(remote.find_missing(refs));
  std::vector<UploadBlob> upload;
  std::sort(missing.begin(), missing.end());
  for (auto& b : result.blobs)
    if (std::binary_search(missing.begin(), missing.end(), b.ref)) {
      upload.push_back(std::move(b));
      // One upload per blob, however many outputs share it.
      missing.erase(std::lower_bound(missing.begin(), missing.end(), upload.back().ref));
    }
  AK_TRY_VOID(remote.upload(upload));
  return remote.put_action_result(shape.action.ref, result.action_result);
}

} // namespace akbuild::remote
