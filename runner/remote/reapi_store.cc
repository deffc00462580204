#include "runner/remote/reapi_store.hh"

#include "build/bazel/remote/execution/v2/remote_execution.pb.h"
#include "runner/core/fs.hh"

namespace akbuild::remote {

namespace re = build::bazel::remote::execution::v2;
namespace fs = std::filesystem;

namespace {

std::optional<BlobRef> from_digest(const re::Digest& d) {
  auto digest = cas::Digest::parse(d.hash());
  if (!digest || d.size_bytes() < 0) return std::nullopt;
  return BlobRef{*digest, static_cast<std::uint64_t>(d.size_bytes())};
}

} // namespace

fs::path ReapiStore::entry_path(const BlobRef& action) const {
  std::string hex = action.digest.hex();
  return m_cache.root() / "reapi-ac" / hex.substr(0, 2) / hex;
}

Result<std::optional<std::vector<BlobRef>>> ReapiStore::named_blobs(const std::string& bytes) {
  using Blobs = std::optional<std::vector<BlobRef>>;
  re::ActionResult result;
  if (!result.ParseFromString(bytes)) return fail(ErrorCode::invalid_argument, "not an ActionResult");
  std::vector<BlobRef> blobs;
  auto add = [&](const re::Digest& d) -> Result<> {
    auto b = from_digest(d);
    if (!b) return fail(ErrorCode::invalid_argument, "malformed digest '" + d.hash() + "'");
    blobs.push_back(*b);
    return ok();
  };
  for (const auto& f : result.output_files()) AK_TRY_VOID(add(f.digest()));
  if (result.has_stdout_digest()) AK_TRY_VOID(add(result.stdout_digest()));
  if (result.has_stderr_digest()) AK_TRY_VOID(add(result.stderr_digest()));
  for (const auto& d : result.output_directories()) {
    AK_TRY_VOID(add(d.tree_digest()));
    auto tree_bytes = read(blobs.back());
    if (!tree_bytes) {
      if (tree_bytes.error().code == ErrorCode::not_found) return Blobs{};
      return fail(tree_bytes.error());
    }
    re::Tree tree;
    if (!tree.ParseFromString(*tree_bytes)) return fail(ErrorCode::invalid_argument, "output '" + d.path() + "': not a Tree");
    for (const auto* dir = &tree.root(); dir; dir = nullptr) {
      for (const auto& f : dir->files()) AK_TRY_VOID(add(f.digest()));
    }
    for (const auto& child : tree.children())
      for (const auto& f : child.files()) AK_TRY_VOID(add(f.digest()));
  }
  auto missing = AK_TRY(find_missing(blobs));
  if (!missing.empty()) return Blobs{};
  return Blobs(std::move(blobs));
}

Result<std::optional<std::string>> ReapiStore::get_action_result(const BlobRef& action) {
  auto path = entry_path(action);
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::optional<std::string>{};
  auto bytes = AK_TRY(read_file(path));
  auto blobs = named_blobs(bytes);
  // An entry that is damaged, or whose blobs gc took, is no entry.
  if (!blobs || !*blobs) {
    fs::remove(path, ec);
    return std::optional<std::string>{};
  }
  return std::optional<std::string>(std::move(bytes));
}

Result<> ReapiStore::put_action_result(const BlobRef& action, const std::string& result) {
  AK_TRY_VOID(m_cache.require_writable("store an action result"));
  auto blobs = AK_TRY(named_blobs(result));
  if (!blobs) return fail(ErrorCode::failed_precondition, "the action result names blobs the CAS does not hold");
  auto path = entry_path(action);
  AK_TRY_VOID(make_dirs(path.parent_path()));
  return write_file_atomic(path, result);
}

Result<std::vector<BlobRef>> ReapiStore::find_missing(const std::vector<BlobRef>& blobs) {
  std::vector<BlobRef> missing;
  for (const auto& b : blobs) {
    // The empty blob is always there (REAPI says so; nobody uploads it).
    if (b.size == 0 && b.digest == cas::Digest::of(std::string_view())) continue;
    auto checked = m_cache.blobs().check(b.digest, b.size);
    if (!checked) {
      if (checked.error().code != ErrorCode::not_found && checked.error().code != ErrorCode::corrupt)
        return fail(checked.error());
      missing.push_back(b);
    }
  }
  return missing;
}

Result<std::string> ReapiStore::read(const BlobRef& blob) {
  if (blob.size == 0 && blob.digest == cas::Digest::of(std::string_view())) return std::string();
  auto present = AK_TRY(m_cache.blobs().contains(blob.digest));
  if (!present) return fail(ErrorCode::not_found, "blob " + blob.digest.hex() + " is not in the CAS");
  auto bytes = AK_TRY(m_cache.blobs().get(blob.digest));
  if (bytes.size() != blob.size) return fail(ErrorCode::not_found, "blob " + blob.digest.hex() + ": other size");
  return bytes;
}

Result<> ReapiStore::write(const BlobRef& blob, std::string_view bytes) {
  AK_TRY_VOID(m_cache.require_writable("store a blob"));
  if (BlobRef::of(bytes) != blob)
    return fail(ErrorCode::invalid_argument, "blob " + blob.digest.hex() + ": the data does not match the digest");
  AK_TRY_VOID(m_cache.blobs().put(bytes));
  return ok();
}

Result<> ReapiStore::write_file(const BlobRef& blob, int dirfd, const std::string& name) {
  AK_TRY_VOID(m_cache.require_writable("store a blob"));
  auto got = AK_TRY(m_cache.blobs().move_file(dirfd, name));
  if (got != blob.digest)
    return fail(ErrorCode::invalid_argument, "blob " + blob.digest.hex() + ": the data does not match the digest");
  return ok();
}

} // namespace akbuild::remote
