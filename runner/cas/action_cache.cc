#include "runner/cas/action_cache.hh"

#include <cerrno>
#include <set>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner/cas/proto_io.hh"
#include "runner/cas/sealed_record.hh"
#include "runner/core/fs.hh"

namespace akbuild::cas {

namespace fs = std::filesystem;

fs::path ActionCache::record_path(const Digest& key) const {
  std::string hex = key.hex();
  return m_dir / hex.substr(0, 2) / hex;
}

namespace {

constexpr std::string_view k_record_kind = "action";

Error corrupt_record(const Digest& key, std::string_view why) {
  return Error{ErrorCode::corrupt, "action " + key.hex() + ": corrupt record (" + std::string(why) + ")"};
}

// What a parsed record must hold to be used under `key`, whatever the step.
Result<> check_record(const v1::ActionResult& r, const Digest& key) {
  if (r.key() != key.hex()) return fail(corrupt_record(key, "it names key '" + r.key() + "'"));
  for (const auto& [path, hex] : r.outputs()) {
    if (!is_contained_relative_path(path))
      return fail(corrupt_record(key, "output path '" + path + "' is not a relative path inside the workspace"));
    if (!Digest::parse(hex)) return fail(corrupt_record(key, "output '" + path + "' names no digest"));
  }
  return ok();
}

// Whether the record's outputs are exactly the step's declared outputs: a record keyed by this
// step's manifest that names others was edited (or is from a buggy writer) and is not used.
Result<> check_outputs(const v1::ActionResult& r, const Digest& key, std::span<const std::string> declared) {
  std::set<std::string> want(declared.begin(), declared.end());
  for (const auto& o : want)
    if (!r.outputs().contains(o)) return fail(corrupt_record(key, "declared output '" + o + "' is missing"));
  for (const auto& [o, hex] : r.outputs())
    if (!want.contains(o)) return fail(corrupt_record(key, "output '" + o + "' is not declared by the step"));
  return ok();
}

} // namespace

Result<v1::ActionResult> ActionCache::read(const Digest& key) const {
  auto bytes = AK_TRY(read_file(record_path(key)));
  auto payload = unseal_record(k_record_kind, bytes);
  if (!payload) {
    const std::string& why = payload.error().message;  // "action record: <fault>"
    return fail(corrupt_record(key, why.substr(why.find(": ") + 2)));
  }
  v1::ActionResult result;
  if (!result.ParseFromString(std::string(*payload))) return fail(corrupt_record(key, "it does not parse"));
  AK_TRY_VOID(check_record(result, key));
  return result;
}

Result<std::optional<v1::ActionResult>> ActionCache::get(const Digest& key,
                                                         std::span<const std::string> declared_outputs) {
  fs::path p = record_path(key);
  auto result = read(key);
  if (result) {
    if (auto checked = check_outputs(*result, key, declared_outputs); !checked) result = fail(checked.error());
  }
  if (!result) {
    if (result.error().code == ErrorCode::not_found) return std::nullopt;
    if (result.error().code != ErrorCode::corrupt) return fail(result.error());
    ::unlink(p.c_str());
    return fail(ErrorCode::corrupt, result.error().message + "; removed from the cache");
  }
  // The record's mtime is its last use, for gc; failing to refresh it (a read-only cache dir) is
  // harmless.
  (void)::utimensat(AT_FDCWD, p.c_str(), nullptr, 0);
  return std::move(*result);
}

Result<> ActionCache::put(const Digest& key, const v1::ActionResult& result) {
  AK_TRY_VOID(check_record(result, key).map_error([](Error e) {
    e.code = ErrorCode::invalid_argument;
    return e;
  }));
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
  return write_file_atomic(p, seal_record(k_record_kind, serialize_deterministic(result)));
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
