#include "oci/layer.hh"

#include <map>

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "runner/core/atomic_file.hh"
#include "runner/core/encoding.hh"
#include "runner/core/fs.hh"
#include "runner/core/hash.hh"
#include "runner/core/sink.hh"
#include "runner/core/blob_mark.hh"
#include "runner/core/stat_record.hh"
#include "runner/core/walk.hh"

namespace akbuild::oci {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view k_cache_version = "akbuild-oci-layer-4";

// Hardlinked files are one tar entry and its links: the first path of each inode names the group.
// Files linked from a cache are not grouped, as the tar writer does not group them.
class HardlinkGroups {
public:
  std::string group(std::string_view rel, const FileInfo& info) {
    if (info.nlink <= 1 || carries_blob_mark(info)) return {};
    return m_first.try_emplace({info.dev, info.ino}, std::string(rel)).first->second;
  }

private:
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::string> m_first;
};

// The same from file content instead of times and sizes, for sources recreated on every run.
class ContentFingerprint final : public TreeVisitor {
public:
  Result<> directory_begin(std::string_view rel, const FileInfo& info) override {
    add_stat_record(m_hasher, rel, stable(info, true));
    return ok();
  }
  Result<> regular(std::string_view rel, const FileInfo& info, int dirfd, std::string_view name) override {
    HashSink content;
    AK_TRY_VOID(stream_file_at(dirfd, name, content));
    add_stat_record(m_hasher, rel, stable(info, false), m_links.group(rel, info) + "\n" + to_hex(content.finish()));
    return ok();
  }
  Result<> symlink(std::string_view rel, const FileInfo& info, std::string_view target) override {
    add_stat_record(m_hasher, rel, stable(info, false), target);
    return ok();
  }
  std::string finish() { return to_hex(m_hasher.finish()); }

private:
  static FileInfo stable(FileInfo info, bool drop_size) {
    info.mtime_ns = info.ctime_ns = 0;
    info.dev = info.ino = 0;
    if (drop_size) info.size = 0;
    return info;
  }
  Hasher m_hasher{HashAlgo::sha256};
  HardlinkGroups m_links;
};

std::string hex_of(std::string_view digest) {
  return std::string(digest.substr(digest.find(':') + 1));
}

// Writes the layer to a temp file in `dir`, then renames it to its digest's hex.
Result<LayerBlob> write_blob(const LayerSpec& spec, const fs::path& dir, unsigned threads) {
  AK_TRY_VOID(make_dirs(dir));
  // Blobs are read-only; the name is known once the content is (its digest).
  auto blob_file = AK_TRY(AtomicFile::create(dir / "layer", 0444));
  const fs::path& tmp = blob_file.temp_path();
  FdSink file(blob_file.fd());
  file.write_back_early();
  HashSink compressed_hash;
  TeeSink compressed_out(file, compressed_hash);
  auto compressor = AK_TRY(make_compressor(spec.compression, compressed_out, threads));
  HashSink tar_hash;
  TeeSink tar_out(tar_hash, *compressor);
  auto written = write_layer_tar(spec.source, spec.tar, tar_out, spec.source_dir);
  if (!written) return fail(written.error().context(spec.source.string()));
  AK_TRY_VOID(compressor->finish());
  auto flushed = file.flush();
  if (!flushed) return fail(flushed.error().context(tmp.string()));

  LayerBlob blob;
  blob.digest = "sha256:" + to_hex(compressed_hash.finish());
  blob.diff_id = "sha256:" + to_hex(tar_hash.finish());
  blob.size = compressed_hash.size();
  blob.media_type = std::string(layer_media_type(spec.compression));
  AK_TRY_VOID(blob_file.commit_as(dir / hex_of(blob.digest)));
  return blob;
}

} // namespace

fs::path blob_path(const fs::path& blobs_dir, std::string_view digest) {
  auto colon = digest.find(':');
  return blobs_dir / std::string(digest.substr(0, colon)) / std::string(digest.substr(colon + 1));
}

Result<std::string> layer_cache_key(const LayerSpec& spec) {
  std::string fingerprint = spec.fingerprint;
  if (fingerprint.empty() && (spec.content_fingerprint || spec.source_dir >= 0)) {
    ContentFingerprint v;
    if (spec.source_dir >= 0) AK_TRY_VOID(walk_open_dir(spec.source_dir, spec.source.string(), v));
    else AK_TRY_VOID(walk_tree(spec.source, v));
    fingerprint = "content:" + v.finish();
  } else if (fingerprint.empty()) {
    // What identifies the tar from stat data alone: hardlinked files are one entry and its links.
    HardlinkGroups links;
    auto print = AK_TRY(stat_fingerprint(spec.source, {}, [&links](const ScanEntry& e) {
      if (e.info.type == FileType::symlink) return e.target;
      return e.info.type == FileType::regular ? links.group(e.rel, e.info) : std::string();
    }));
    fingerprint = "stat:" + print.digest;
  }
  nlohmann::json options;
  options["destination"] = AK_TRY(normalize_destination(spec.tar.destination));
  options["name"] = spec.source.filename().string();
  if (spec.tar.uid) options["uid"] = *spec.tar.uid;
  if (spec.tar.gid) options["gid"] = *spec.tar.gid;
  if (spec.tar.mode) options["mode"] = *spec.tar.mode;
  if (spec.tar.directory_mode) options["directory_mode"] = *spec.tar.directory_mode;
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
  // A temp file of its own: two processes copying the same blob must not share one.
  auto copy = AK_TRY(AtomicFile::create(to));  // copy_file gives it the mode of `from`
  fs::copy_file(from, copy.temp_path(), fs::copy_options::overwrite_existing, ec);
  if (ec) return fail(ErrorCode::io, to.string() + ": copy from " + from.string() + ": " + ec.message());
  return copy.commit();
}

Result<LayerBlob> make_layer(const LayerSpec& spec, const fs::path& blobs_dir, LayerCache* cache, unsigned threads) {
  if (!cache) return write_blob(spec, blobs_dir / "sha256", threads);

  std::string key = AK_TRY(layer_cache_key(spec));
  AK_TRY_VOID(make_dirs(blobs_dir / "sha256"));
  if (auto cached = AK_TRY(cache->fetch(key, blobs_dir))) {
    cached->cached = true;
    return std::move(*cached);
  }
  LayerBlob blob = AK_TRY(write_blob(spec, blobs_dir / "sha256", threads));
  if (spec.source_unchanged && !spec.source_unchanged()) return blob;
  AK_TRY_VOID(cache->keep(key, blob, blob_path(blobs_dir, blob.digest)));
  return blob;
}

} // namespace akbuild::oci
