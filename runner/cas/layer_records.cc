#include "runner/cas/layer_records.hh"

#include <cerrno>
#include <charconv>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner/cas/sealed_record.hh"
#include "runner/core/fs.hh"

namespace akbuild::cas {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view k_record_kind = "layer";

Error corrupt_record(const Digest& key, std::string_view why) {
  return Error{ErrorCode::corrupt, "layer " + key.hex() + ": corrupt record (" + std::string(why) + ")"};
}

// "name value\n" lines in a fixed order; nullopt when the next line is not `name`.
std::optional<std::string_view> field(std::string_view& rest, std::string_view name) {
  auto nl = rest.find('\n');
  if (nl == std::string_view::npos) return std::nullopt;
  std::string_view line = rest.substr(0, nl);
  if (!line.starts_with(name) || line.size() <= name.size() || line[name.size()] != ' ') return std::nullopt;
  rest.remove_prefix(nl + 1);
  return line.substr(name.size() + 1);
}

bool is_sha256_ref(std::string_view s) { return s.starts_with("sha256:") && Digest::parse(s.substr(7)).has_value(); }

} // namespace

fs::path LayerRecords::record_path(const Digest& key) const {
  std::string hex = key.hex();
  return m_dir / hex.substr(0, 2) / hex;
}

Result<LayerRecord> LayerRecords::read(const Digest& key) const {
  auto bytes = AK_TRY(read_file(record_path(key)));
  auto payload = unseal_record(k_record_kind, bytes);
  if (!payload) {
    const std::string& why = payload.error().message;  // "layer record: <fault>"
    return fail(corrupt_record(key, why.substr(why.find(": ") + 2)));
  }
  std::string_view rest = *payload;
  auto blob = field(rest, "blob");
  auto size = blob ? field(rest, "size") : std::nullopt;
  auto diff_id = size ? field(rest, "diff_id") : std::nullopt;
  auto media_type = diff_id ? field(rest, "media_type") : std::nullopt;
  if (!media_type || !rest.empty()) return fail(corrupt_record(key, "fields missing or out of order"));
  LayerRecord r;
  auto digest = Digest::parse(*blob);
  if (!digest) return fail(corrupt_record(key, "blob names no digest"));
  r.blob = *digest;
  auto [end, ec] = std::from_chars(size->data(), size->data() + size->size(), r.size);
  if (ec != std::errc() || end != size->data() + size->size()) return fail(corrupt_record(key, "size is not a number"));
  if (!is_sha256_ref(*diff_id)) return fail(corrupt_record(key, "diff_id is not sha256:<hex>"));
  r.diff_id = std::string(*diff_id);
  r.media_type = std::string(*media_type);
  return r;
}

Result<std::optional<LayerRecord>> LayerRecords::get(const Digest& key) {
  fs::path p = record_path(key);
  auto record = read(key);
  if (!record) {
    if (record.error().code == ErrorCode::not_found) return std::nullopt;
    if (record.error().code != ErrorCode::corrupt) return fail(record.error());
    ::unlink(p.c_str());
    return fail(ErrorCode::corrupt, record.error().message + "; removed from the cache");
  }
  // A record whose blob gc took (or verify evicted) is a miss; the next build records it again.
  if (!AK_TRY(m_blobs.contains(record->blob))) return std::nullopt;
  (void)::utimensat(AT_FDCWD, p.c_str(), nullptr, 0);
  return std::move(*record);
}

Result<> LayerRecords::put(const Digest& key, const LayerRecord& record) {
  if (!is_sha256_ref(record.diff_id) || record.media_type.empty() ||
      record.media_type.find('\n') != std::string::npos)
    return fail(ErrorCode::invalid_argument, "layer " + key.hex() + ": record needs a sha256 diff_id and a media type");
  if (!AK_TRY(m_blobs.contains(record.blob)))
    return fail(ErrorCode::failed_precondition,
                "layer " + key.hex() + ": blob " + record.blob.hex() + " is not in the cache");
  std::string payload = "blob " + record.blob.hex() + "\nsize " + std::to_string(record.size) + "\ndiff_id " +
                        record.diff_id + "\nmedia_type " + record.media_type + "\n";
  fs::path p = record_path(key);
  AK_TRY_VOID(make_dirs(p.parent_path()));
  return write_file_atomic(p, seal_record(k_record_kind, payload));
}

Result<> LayerRecords::remove(const Digest& key) {
  fs::path p = record_path(key);
  if (::unlink(p.c_str()) != 0 && errno != ENOENT) return fail(errno_error("remove layer " + key.hex()));
  return ok();
}

} // namespace akbuild::cas
