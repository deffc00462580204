#include "runner/cas/action_cache.hh"

#include <cerrno>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner/cas/proto_io.hh"
#include "runner/core/fs.hh"

namespace akbuild::cas {

namespace fs = std::filesystem;

fs::path ActionCache::record_path(const Digest& key) const {
  std::string hex = key.hex();
  return m_dir / hex.substr(0, 2) / hex;
}

Result<std::optional<v1::ActionResult>> ActionCache::get(const Digest& key) {
  fs::path p = record_path(key);
  auto bytes = read_file(p);
  if (!bytes) {
    if (bytes.error().code == ErrorCode::not_found) return std::nullopt;
    return fail(bytes.error());
  }
  v1::ActionResult result;
  if (!result.ParseFromString(*bytes) || (!result.key().empty() && result.key() != key.hex())) {
    ::unlink(p.c_str());
    return fail(ErrorCode::corrupt, "action " + key.hex() + ": corrupt record; removed from the cache");
  }
  // The record's mtime is its last use, for gc; failing to refresh it is harmless.
  (void)::utimensat(AT_FDCWD, p.c_str(), nullptr, 0);
  return result;
}

Result<> ActionCache::put(const Digest& key, const v1::ActionResult& result) {
  if (m_blobs) {
    std::vector<std::pair<std::string, std::string>> named;  // what, digest hex
    for (const auto& [path, digest] : result.outputs()) named.emplace_back("output " + path, digest);
    if (!result.stdout_digest().empty()) named.emplace_back("stdout", result.stdout_digest());
    if (!result.stderr_digest().empty()) named.emplace_back("stderr", result.stderr_digest());
    for (const auto& [what, hex] : named) {
      auto d = Digest::parse(hex);
      if (!d) return fail(d.error().context("action " + key.hex() + ": " + what));
      if (!AK_TRY(m_blobs->contains(*d)))
        return fail(ErrorCode::failed_precondition,
                    "action " + key.hex() + ": " + what + " names blob " + hex + ", which is not in the cache");
    }
  }
  fs::path p = record_path(key);
  AK_TRY_VOID(make_dirs(p.parent_path()));
  return write_file_atomic(p, serialize_deterministic(result));
}

Result<> ActionCache::remove(const Digest& key) {
  fs::path p = record_path(key);
  if (::unlink(p.c_str()) != 0 && errno != ENOENT) return fail(errno_error("remove action " + key.hex()));
  return ok();
}

namespace {
fs::path last_path(const fs::path& dir, std::string_view step_id) {
  return dir / "last" / Digest::of(step_id).hex();
}
} // namespace

Result<std::optional<std::string>> ActionCache::last_manifest(std::string_view step_id) {
  auto text = read_file(last_path(m_dir, step_id));
  if (!text) {
    if (text.error().code == ErrorCode::not_found) return std::nullopt;
    return fail(text.error());
  }
  return std::move(*text);
}

std::uint64_t ActionCache::last_manifest_size(std::string_view step_id) const {
  struct stat st {};
  if (::stat(last_path(m_dir, step_id).c_str(), &st) != 0) return 0;
  return static_cast<std::uint64_t>(st.st_size);
}

Result<> ActionCache::set_last_manifest(std::string_view step_id, std::string_view manifest) {
  fs::path p = last_path(m_dir, step_id);
  AK_TRY_VOID(make_dirs(p.parent_path()));
  return write_file_atomic(p, manifest);
}

} // namespace akbuild::cas
