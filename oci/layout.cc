#include "oci/layout.hh"

#include <cerrno>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "oci/layer.hh"
#include "runner/core/encoding.hh"
#include "runner/core/fs.hh"
#include "runner/core/json_depth.hh"
#include "runner/core/sink.hh"
#include "runner/core/walk.hh"

namespace akbuild::oci {

namespace fs = std::filesystem;

namespace {

Result<Descriptor> descriptor_of(const nlohmann::json& j, std::string_view what) {
  if (!j.is_object() || !j.contains("digest") || !j["digest"].is_string() || !j.contains("size") ||
      !j["size"].is_number_unsigned())
    return fail(ErrorCode::corrupt, std::string(what) + ": descriptor without digest or size");
  Descriptor d{j.value("mediaType", ""), j["digest"].get<std::string>(), j["size"].get<std::uint64_t>()};
  if (!is_sha256_digest(d.digest))
    return fail(ErrorCode::corrupt, std::string(what) + ": unsupported digest '" + d.digest + "'");
  return d;
}

// index.json, manifests and configs above this are refused before they are read (containerd
// refuses manifests above 4 MiB; configs with a long history stay far below 16).
constexpr std::uint64_t k_max_json_size = 16 << 20;

// A regular file opened for reading. O_NONBLOCK: opening a FIFO planted in a layout returns at
// once (and is then refused) instead of waiting for a writer; a device (/dev/zero) is refused
// too, where reading it would never end.
Result<std::pair<UniqueFd, std::uint64_t>> open_regular(const fs::path& path, std::string_view what) {
  auto fd = open_fd(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (!fd) return fail(ErrorCode::not_found, std::string(what) + " is missing");
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) return fail(errno_error(path.string()));
  if (!S_ISREG(st.st_mode)) return fail(ErrorCode::corrupt, std::string(what) + " is not a regular file");
  return std::pair{std::move(*fd), static_cast<std::uint64_t>(st.st_size)};
}

// The whole of a regular file of at most `max` bytes.
Result<std::string> read_regular(const fs::path& path, std::uint64_t max, std::string_view what) {
  auto [fd, size] = AK_TRY(open_regular(path, what));
  if (size > max)
    return fail(ErrorCode::corrupt, std::string(what) + " is larger than " + std::to_string(max) + " bytes");
  std::string out(static_cast<std::size_t>(size), '\0');
  std::size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::read(fd.get(), out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(errno_error(path.string()));
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
  return out;
}

Result<std::string> read_blob(const fs::path& dir, const Descriptor& d) {
  fs::path path = blob_path(dir / "blobs", d.digest);
  std::string what = dir.string() + ": blob " + d.digest;
  if (d.size > k_max_json_size)
    return fail(ErrorCode::corrupt, what + " is larger than " + std::to_string(k_max_json_size) + " bytes");
  auto text = AK_TRY(read_regular(path, d.size, what));
  if (text.size() != d.size || "sha256:" + to_hex(sha256(text)) != d.digest)
    return fail(ErrorCode::corrupt, what + " does not match its digest");
  return text;
}

Result<nlohmann::json> parse_json(const std::string& text, std::string_view what) {
  if (json_nesting_depth(text) > k_max_json_depth)
    return fail(ErrorCode::corrupt, std::string(what) + ": JSON nested deeper than " + std::to_string(k_max_json_depth) + " levels");
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail(ErrorCode::corrupt, std::string(what) + ": not a JSON object");
  return j;
}

bool escapes(std::string_view name) {
  std::size_t pos = 0;
  while (pos <= name.size()) {
    auto slash = name.find('/', pos);
    std::string_view part = name.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos);
    if (part == "..") return true;
    if (slash == std::string_view::npos) break;
    pos = slash + 1;
  }
  return false;
}

} // namespace

bool is_sha256_digest(std::string_view digest) {
  if (digest.size() != 71 || digest.substr(0, 7) != "sha256:") return false;
  for (char c : digest.substr(7))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

Result<> verify_blob(const fs::path& path, const Descriptor& d) {
  auto [fd, size] = AK_TRY(open_regular(path, path.string() + ": blob " + d.digest));
  if (size != d.size) return fail(ErrorCode::corrupt, path.string() + ": does not match its digest " + d.digest);
  HashSink h;
  AK_TRY_VOID(stream_fd(fd.get(), h));
  if (h.size() != d.size || "sha256:" + to_hex(h.finish()) != d.digest)
    return fail(ErrorCode::corrupt, path.string() + ": does not match its digest " + d.digest);
  return ok();
}

Result<LayoutImage> read_layout_image(const fs::path& dir, std::string_view ref_name) {
  if (::access((dir / "index.json").c_str(), F_OK) != 0)
    return fail(ErrorCode::not_found, dir.string() + ": not an OCI layout (no index.json)");
  auto index_text = read_regular(dir / "index.json", k_max_json_size, dir.string() + "/index.json");
  if (!index_text) return fail(index_text.error());
  auto index = AK_TRY(parse_json(*index_text, dir.string() + "/index.json"));
  if (!index.contains("manifests") || !index["manifests"].is_array())
    return fail(ErrorCode::corrupt, dir.string() + "/index.json: no manifests");
  const nlohmann::json* chosen = nullptr;
  std::vector<std::string> names;
  for (const auto& m : index["manifests"]) {
    std::string name;
    if (m.contains("annotations") && m["annotations"].is_object())
      name = m["annotations"].value("org.opencontainers.image.ref.name", "");
    names.push_back(name);
    if (ref_name.empty() ? index["manifests"].size() == 1 : name == ref_name) chosen = &m;
  }
  if (!chosen) {
    std::string known;
    for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
    return fail(ErrorCode::not_found, dir.string() + ": no image named '" + std::string(ref_name) +
                                          "' (has: " + known + ")");
  }
  LayoutImage image;
  image.dir = dir;
  image.manifest = AK_TRY(descriptor_of(*chosen, dir.string() + "/index.json"));
  image.manifest_bytes = AK_TRY(read_blob(dir, image.manifest));
  image.manifest_json = AK_TRY(parse_json(image.manifest_bytes, "manifest " + image.manifest.digest));
  if (image.manifest.media_type.empty()) image.manifest.media_type = image.manifest_json.value("mediaType", "");
  if (image.manifest_json.contains("manifests"))
    return fail(ErrorCode::invalid_argument, dir.string() + ": " + image.manifest.digest +
                                                 " is an index of several platforms; name one manifest");
  image.config = AK_TRY(descriptor_of(image.manifest_json.value("config", nlohmann::json{}), "manifest config"));
  image.config_json = AK_TRY(parse_json(AK_TRY(read_blob(dir, image.config)), "config " + image.config.digest));
  if (image.manifest_json.contains("layers") && image.manifest_json["layers"].is_array())
    for (const auto& l : image.manifest_json["layers"])
      image.layers.push_back(AK_TRY(descriptor_of(l, "manifest layer")));
  return image;
}

Result<> check_layer_entries(const fs::path& blob, std::string_view what) {
  std::unique_ptr<archive, decltype(&archive_read_free)> a(archive_read_new(), archive_read_free);
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_filename(a.get(), blob.c_str(), 1 << 16) != ARCHIVE_OK)
    return fail(ErrorCode::corrupt, std::string(what) + ": " + archive_error_string(a.get()));
  archive_entry* entry = nullptr;
  for (;;) {
    int r = archive_read_next_header(a.get(), &entry);
    if (r == ARCHIVE_EOF) return ok();
    if (r < ARCHIVE_WARN) return fail(ErrorCode::corrupt, std::string(what) + ": " + archive_error_string(a.get()));
    const char* name = archive_entry_pathname(entry);
    if (name && escapes(name))
      return fail(ErrorCode::invalid_argument,
                  std::string(what) + ": entry '" + name + "' escapes the image root");
    const char* hardlink = archive_entry_hardlink(entry);
    if (hardlink && escapes(hardlink))
      return fail(ErrorCode::invalid_argument,
                  std::string(what) + ": hardlink target '" + hardlink + "' escapes the image root");
  }
}

} // namespace akbuild::oci
