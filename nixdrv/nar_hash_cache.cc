#include "nixdrv/nar_hash_cache.hh"

#include <algorithm>
#include <cstring>

#include "nixdrv/nar.hh"
#include "nixdrv/nar_hash.hh"
#include "runner/core/encoding.hh"
#include "runner/core/fs.hh"
#include "runner/core/scan.hh"

namespace akbuild::nixdrv {

namespace {

constexpr std::string_view k_format = "akbuild-nar-hash-cache 2";

// One record per entry: its path (unique in a tree, so the records spell out its shape), its
// type and every stat field that changes when its content may have.
void add_record(Hasher& hasher, const ScanEntry& e) {
  struct Record {
    std::uint64_t size, dev, ino;
    std::int64_t mtime, ctime;
    std::uint32_t mode;
    char type;
  } r{};
  std::memset(&r, 0, sizeof r);
  r.size = e.info.size;
  r.dev = e.info.dev;
  r.ino = e.info.ino;
  r.mtime = e.info.mtime_ns;
  r.ctime = e.info.ctime_ns;
  r.mode = e.info.mode;
  r.type = e.info.type == FileType::directory ? 'd' : e.info.type == FileType::symlink ? 'l' : 'f';
  hasher.update(e.rel);
  hasher.update(std::string_view("\0", 1));
  hasher.update(std::as_bytes(std::span(&r, 1)));
  if (e.info.type == FileType::symlink) {
    hasher.update(e.target);
    hasher.update(std::string_view("\0", 1));
  }
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

} // namespace

Result<NarHashCache::Fingerprint> NarHashCache::fingerprint(const std::filesystem::path& path) {
  ScanOptions options;
  options.max_depth = k_nar_max_depth;
  auto entries = AK_TRY(scan_tree(path, options));
  Hasher hasher(HashAlgo::sha256);
  std::int64_t newest = 0;
  for (const auto& e : entries) {
    if (e.info.type == FileType::other) return fail(unsupported_type_error(e.rel, e.info).context(path.string()));
    add_record(hasher, e);
    newest = std::max({newest, e.info.mtime_ns, e.info.ctime_ns});
  }
  return Fingerprint{to_hex(hasher.finish()), newest};
}

Result<Hash> NarHashCache::nar_hash(const std::filesystem::path& path) {
  m_last_hit = false;
  std::error_code ec;
  auto absolute = std::filesystem::absolute(path, ec).lexically_normal();
  if (ec) return nixdrv::nar_hash(path);
  std::string key = absolute.string();
  while (key.size() > 1 && key.back() == '/') key.pop_back();
  auto entry = m_dir / to_hex(sha256(key));

  std::int64_t started = now_ns();
  auto print = AK_TRY(fingerprint(absolute));
  if (auto stored = read_file(entry)) {
    // k_format \n root \n fingerprint \n SRI \n
    std::string expected_head = std::string(k_format) + "\n" + key + "\n" + print.digest + "\n";
    if (stored->starts_with(expected_head)) {
      std::string_view sri = std::string_view(*stored).substr(expected_head.size());
      if (sri.ends_with('\n')) sri.remove_suffix(1);
      if (auto h = Hash::parse_sri(sri)) {
        m_last_hit = true;
        return *h;
      }
    }
  }
  auto hash = AK_TRY(nixdrv::nar_hash(absolute));
  auto margin = std::chrono::duration_cast<std::chrono::nanoseconds>(m_margin).count();
  if (print.newest_ns < started - margin) {
    std::string record = std::string(k_format) + "\n" + key + "\n" + print.digest + "\n" + hash.to_sri() + "\n";
    if (make_dirs(m_dir)) (void)write_file_atomic(entry, record);
  }
  return hash;
}

} // namespace akbuild::nixdrv
