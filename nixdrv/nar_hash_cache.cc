#include "nixdrv/nar_hash_cache.hh"

#include <algorithm>
#include <cstring>

#include "nixdrv/nar.hh"
#include "nixdrv/nar_hash.hh"
#include "runner/core/encoding.hh"
#include "runner/core/fs.hh"
#include "runner/core/walk.hh"

namespace akbuild::nixdrv {

namespace {

constexpr std::string_view k_format = "akbuild-nar-hash-cache 1";

class StatVisitor final : public TreeVisitor {
public:
  Result<> directory_begin(std::string_view rel, const FileInfo& info) override { return add(rel, info, 'd'); }
  Result<> directory_end(std::string_view) override {
    m_hasher.update(std::string_view("\0e", 2));
    return ok();
  }
  Result<> regular(std::string_view rel, const FileInfo& info, int, std::string_view) override {
    return add(rel, info, 'f');
  }
  Result<> symlink(std::string_view rel, const FileInfo& info, std::string_view target) override {
    AK_TRY_VOID(add(rel, info, 'l'));
    m_hasher.update(target);
    m_hasher.update(std::string_view("\0", 1));
    return ok();
  }

  NarHashCache::Fingerprint finish() { return {to_hex(m_hasher.finish()), m_newest}; }

private:
  Result<> add(std::string_view rel, const FileInfo& info, char type) {
    struct Record {
      std::uint64_t size, dev, ino;
      std::int64_t mtime, ctime;
      std::uint32_t mode;
      char type;
    } r{};
    std::memset(&r, 0, sizeof r);
    r.size = info.size;
    r.dev = info.dev;
    r.ino = info.ino;
    r.mtime = info.mtime_ns;
    r.ctime = info.ctime_ns;
    r.mode = info.mode;
    r.type = type;
    m_hasher.update(rel);
    m_hasher.update(std::string_view("\0", 1));
    m_hasher.update(std::as_bytes(std::span(&r, 1)));
    m_newest = std::max({m_newest, info.mtime_ns, info.ctime_ns});
    return ok();
  }
  Hasher m_hasher{HashAlgo::sha256};
  std::int64_t m_newest = 0;
};

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

} // namespace

Result<NarHashCache::Fingerprint> NarHashCache::fingerprint(const std::filesystem::path& path) {
  StatVisitor visitor;
  WalkOptions options;
  options.max_depth = k_nar_max_depth;
  AK_TRY_VOID(walk_tree(path, visitor, options));
  return visitor.finish();
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
