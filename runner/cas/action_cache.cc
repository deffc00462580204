#include "runner/cas/action_cache.hh"

#include <cerrno>
#include <set>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "akbuild/v1/cache.pb.h"
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

// The record a parsed message stands for, if it may be used under `key` whatever the step: it
// names that key, its output paths stay inside the workspace and every digest parses.
Result<ActionRecord> from_proto(const v1::ActionResult& r, const Digest& key) {
  if (r.key() != key.hex()) return fail(corrupt_record(key, "it names key '" + r.key() + "'"));
  ActionRecord out;
  out.key = key;
  out.step_id = r.step_id();
  out.kind = r.kind();
  for (const auto& [path, output] : r.outputs()) {
    if (!is_contained_relative_path(path))
      return fail(corrupt_record(key, "output path '" + path + "' is not a relative path inside the workspace"));
    auto d = Digest::parse(output.digest());
    if (!d) return fail(corrupt_record(key, "output '" + path + "' names no digest"));
    out.outputs[path] = {output.kind() == v1::ActionOutput::FILE ? ActionOutput::Kind::file
                                                                 : ActionOutput::Kind::tree,
                         *d};
  }
  out.values = {r.values().begin(), r.values().end()};
  out.nar_hash = r.nar_hash();
  out.exit_code = r.exit_code();
  for (auto [hex, log] : {std::pair{&r.stdout_digest(), &out.stdout_log}, std::pair{&r.stderr_digest(), &out.stderr_log}}) {
    if (hex->empty()) continue;
    auto d = Digest::parse(*hex);
    if (!d) return fail(corrupt_record(key, "a log names no digest"));
    *log = *d;
  }
  out.started = std::chrono::system_clock::time_point(std::chrono::milliseconds(r.started_unix_ms()));
  out.duration = std::chrono::milliseconds(r.duration_ms());
  return out;
}

v1::ActionResult to_proto(const ActionRecord& r) {
  v1::ActionResult out;
  out.set_key(r.key.hex());
  out.set_step_id(r.step_id);
  out.set_kind(r.kind);
  for (const auto& [path, output] : r.outputs) {
    v1::ActionOutput o;
    o.set_kind(output.kind == ActionOutput::Kind::file ? v1::ActionOutput::FILE : v1::ActionOutput::TREE);
    o.set_digest(output.digest.hex());
    (*out.mutable_outputs())[path] = std::move(o);
  }
  out.mutable_values()->insert(r.values.begin(), r.values.end());
  out.set_nar_hash(r.nar_hash);
  out.set_exit_code(r.exit_code);
  if (r.stdout_log) out.set_stdout_digest(r.stdout_log->hex());
  if (r.stderr_log) out.set_stderr_digest(r.stderr_log->hex());
  out.set_started_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(r.started.time_since_epoch()).count());
  out.set_duration_ms(r.duration.count());
  return out;
}

// Whether the record's outputs are exactly the step's declared outputs: a record keyed by this
// step's manifest that names others was edited (or is from a buggy writer) and is not used.
Result<> check_outputs(const ActionRecord& r, std::span<const std::string> declared) {
  std::set<std::string> want(declared.begin(), declared.end());
  for (const auto& o : want)
    if (!r.outputs.contains(o)) return fail(corrupt_record(r.key, "declared output '" + o + "' is missing"));
  for (const auto& [o, output] : r.outputs)
    if (!want.contains(o)) return fail(corrupt_record(r.key, "output '" + o + "' is not declared by the step"));
  return ok();
}

} // namespace

Result<ActionRecord> ActionCache::read(const Digest& key) const {
  auto bytes = AK_TRY(read_file(record_path(key)));
  auto payload = unseal_record(k_record_kind, bytes);
  if (!payload) {
    const std::string& why = payload.error().message;  // "action record: <fault>"
    return fail(corrupt_record(key, why.substr(why.find(": ") + 2)));
  }
  v1::ActionResult result;
  if (!result.ParseFromString(std::string(*payload))) return fail(corrupt_record(key, "it does not parse"));
  return from_proto(result, key);
}

Result<std::optional<ActionRecord>> ActionCache::get(const Digest& key, std::span<const std::string> declared_outputs) {
  fs::path p = record_path(key);
  auto result = read(key);
  if (result) {
    if (auto checked = check_outputs(*result, declared_outputs); !checked) result = fail(checked.error());
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

Result<> ActionCache::put(const ActionRecord& record) {
  const Digest& key = record.key;
  for (const auto& [path, output] : record.outputs)
    if (!is_contained_relative_path(path))
      return fail(ErrorCode::invalid_argument, "action " + key.hex() + ": output path '" + path +
                                                   "' is not a relative path inside the workspace");
  if (m_blobs) {
    std::vector<std::pair<std::string, Digest>> named;  // what, digest
    for (const auto& [path, output] : record.outputs) named.emplace_back("output " + path, output.digest);
    if (record.stdout_log) named.emplace_back("stdout", *record.stdout_log);
    if (record.stderr_log) named.emplace_back("stderr", *record.stderr_log);
    for (const auto& [what, d] : named)
      if (!AK_TRY(m_blobs->contains(d)))
        return fail(ErrorCode::failed_precondition,
                    "action " + key.hex() + ": " + what + " names blob " + d.hex() + ", which is not in the cache");
  }
  fs::path p = record_path(key);
  AK_TRY_VOID(make_dirs(p.parent_path()));
  return write_file_atomic(p, seal_record(k_record_kind, serialize_deterministic(to_proto(record))));
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
