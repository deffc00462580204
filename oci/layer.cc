#include "oci/layer.hh"

#include <map>

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "runner/core/encoding.hh"
#include "runner/core/fs.hh"
#include "runner/core/hash.hh"
#include "runner/core/sink.hh"
#include "runner/core/walk.hh"

namespace akbuild::oci {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view k_cache_version = "akbuild-oci-layer-1";

// Hashes what identifies a tree's tar without reading file content.
class FingerprintVisitor final : public TreeVisitor {
public:
  explicit FingerprintVisitor(bool content) : m_content(content) {}
  Result<> directory_begin(std::string_view rel, const FileInfo& info) override {
    FileInfo stable = info;
    if (m_content) stable.mtime_ns = stable.ctime_ns = stable.size = 0;
    line(rel, 'd', stable, "");
    return ok();
  }
  Result<> regular(std::string_view rel, const FileInfo& info, int dirfd, std::string_view name) override {
    std::string group;
    if (info.nlink > 1) group = m_links.try_emplace({info.dev, info.ino}, std::string(rel)).first->second;
    if (!m_content) {
      line(rel, 'f', info, group);
      return ok();
    }
    HashSink content;
    AK_TRY_VOID(stream_file_at(dirfd, name, content));
    FileInfo stable = info;
    stable.mtime_ns = stable.ctime_ns = 0;
    line(rel, 'f', stable, group + "\n" + to_hex(content.finish()));
    return ok();
  }
  Result<> symlink(std::string_view rel, const FileInfo& info, std::string_view target) override {
    FileInfo stable = info;
    if (m_content) stable.mtime_ns = stable.ctime_ns = 0;
    line(rel, 'l', stable, target);
    return ok();
  }
  std::string finish() { return to_hex(m_hasher.finish()); }

private:
  void line(std::string_view rel, char type, const FileInfo& info, std::string_view extra) {
    // Length-prefixed strings: paths and targets may hold any byte but NUL.
    m_hasher.update(fmt::format("{} {} {:o} {} {} {} {}:", rel.size(), type, info.mode, info.size, info.mtime_ns,
                                info.ctime_ns, extra.size()));
    m_hasher.update(rel);
    m_hasher.update(extra);
  }
  bool m_content;
  Hasher m_hasher{HashAlgo::sha256};
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::string> m_links;
};

std::string hex_of(std::string_view digest) {
  return std::string(digest.substr(digest.find(':') + 1));
}

// Writes the layer to a temp file in `dir`, then renames it to its digest's hex.
Result<LayerBlob> write_blob(const LayerSpec& spec, const fs::path& dir, unsigned threads) {
  AK_TRY_VOID(make_dirs(dir));
  std::string tmpl = (dir / ".tmp-layer-XXXXXX").string();
  int raw = ::mkstemp(tmpl.data());
  if (raw < 0) return fail(errno_error(dir.string() + ": create temp file"));
  UniqueFd fd(raw);
  fs::path tmp = tmpl;
  struct Cleanup {
    fs::path path;
    bool armed = true;
    ~Cleanup() {
      if (armed) ::unlink(path.c_str());
    }
  } cleanup{tmp};

  FdSink file(fd.get());
  HashSink compressed_hash;
  TeeSink compressed_out(file, compressed_hash);
  auto compressor = AK_TRY(make_compressor(spec.compression, compressed_out, threads));
  HashSink tar_hash;
  TeeSink tar_out(tar_hash, *compressor);
  auto written = write_layer_tar(spec.source, spec.tar, tar_out);
  if (!written) return fail(written.error().context(spec.source.string()));
  AK_TRY_VOID(compressor->finish());
  auto flushed = file.flush();
  if (!flushed) return fail(flushed.error().context(tmp.string()));
  if (::fsync(fd.get()) != 0) return fail(errno_error(tmp.string() + ": fsync"));
  if (::fchmod(fd.get(), 0444) != 0) return fail(errno_error(tmp.string() + ": chmod"));

  LayerBlob blob;
  blob.digest = "sha256:" + to_hex(compressed_hash.finish());
  blob.diff_id = "sha256:" + to_hex(tar_hash.finish());
  blob.size = compressed_hash.size();
  blob.media_type = std::string(layer_media_type(spec.compression));
  fs::path final_path = dir / hex_of(blob.digest);
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) return fail(errno_error(final_path.string() + ": rename"));
  cleanup.armed = false;
  return blob;
}

} // namespace

fs::path blob_path(const fs::path& blobs_dir, std::string_view digest) {
  auto colon = digest.find(':');
  return blobs_dir / std::string(digest.substr(0, colon)) / std::string(digest.substr(colon + 1));
}

Result<std::string> layer_cache_key(const LayerSpec& spec) {
  std::string fingerprint = spec.fingerprint;
  if (fingerprint.empty()) {
    FingerprintVisitor v(spec.content_fingerprint);
    AK_TRY_VOID(walk_tree(spec.source, v));
    fingerprint = (spec.content_fingerprint ? "content:" : "stat:") + v.finish();
  }
  nlohmann::json options;
  options["destination"] = AK_TRY(normalize_destination(spec.tar.destination));
  options["name"] = spec.source.filename().string();
  if (spec.tar.uid) options["uid"] = *spec.tar.uid;
  if (spec.tar.gid) options["gid"] = *spec.tar.gid;
  if (spec.tar.mode) options["mode"] = *spec.tar.mode;
  options["mtime"] = spec.tar.mtime;
  options["compression"] = std::string(to_string(spec.compression));
  auto& perms = options["perms"] = nlohmann::json::array();
  for (const auto& p : spec.tar.perms) {
    nlohmann::json r;
    r["glob"] = p.glob.pattern();
    if (p.mode) r["mode"] = *p.mode;
    if (p.uid) r["uid"] = *p.uid;
    if (p.gid) r["gid"] = *p.gid;
    perms.push_back(std::move(r));
  }
  Hasher h(HashAlgo::sha256);
  h.update(std::string(k_cache_version) + "\n" + fingerprint + "\n" + options.dump() + "\n");
  return to_hex(h.finish());
}

Result<> link_or_copy(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  if (fs::exists(to, ec)) return ok();
  if (::link(from.c_str(), to.c_str()) == 0 || errno == EEXIST) return ok();
  fs::path tmp = to;
  tmp += ".tmp";
  fs::copy_file(from, tmp, fs::copy_options::overwrite_existing, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return fail(ErrorCode::io, to.string() + ": copy from " + from.string() + ": " + ec.message());
  }
  if (::rename(tmp.c_str(), to.c_str()) != 0) return fail(errno_error(to.string() + ": rename"));
  return ok();
}

Result<LayerBlob> make_layer(const LayerSpec& spec, const fs::path& blobs_dir, const fs::path& cache_dir,
                             unsigned threads) {
  if (cache_dir.empty()) return write_blob(spec, blobs_dir / "sha256", threads);

  std::string key = AK_TRY(layer_cache_key(spec));
  fs::path entry = cache_dir / "oci" / "layers" / (key + ".json");
  fs::path cache_blobs = cache_dir / "oci" / "blobs";
  AK_TRY_VOID(make_dirs(blobs_dir / "sha256"));
  if (auto text = read_file(entry)) {
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_object() && j.contains("digest") && j["digest"].is_string()) {
      LayerBlob blob{j.value("digest", ""), j.value("diff_id", ""), j.value("size", std::uint64_t{0}),
                     j.value("media_type", ""), true};
      fs::path cached = blob_path(cache_blobs, blob.digest);
      std::error_code ec;
      if (fs::file_size(cached, ec) == blob.size && !ec) {
        AK_TRY_VOID(link_or_copy(cached, blob_path(blobs_dir, blob.digest)));
        return blob;
      }
    }
  }
  LayerBlob blob = AK_TRY(write_blob(spec, cache_blobs / "sha256", threads));
  nlohmann::json j{{"digest", blob.digest}, {"diff_id", blob.diff_id}, {"size", blob.size},
                   {"media_type", blob.media_type}};
  AK_TRY_VOID(make_dirs(entry.parent_path()));
  AK_TRY_VOID(write_file_atomic(entry, j.dump() + "\n"));
  AK_TRY_VOID(link_or_copy(blob_path(cache_blobs, blob.digest), blob_path(blobs_dir, blob.digest)));
  return blob;
}

} // namespace akbuild::oci
