#include "nixdrv/nar_hash_cache.hh"

#include <cstdlib>
#include <vector>

#include "nixdrv/nar.hh"
#include "nixdrv/nar_hash.hh"
#include "runner/core/encoding.hh"
#include "runner/core/fs.hh"
#include "runner/core/memory.hh"
#include "runner/core/stat_record.hh"

namespace akbuild::nixdrv {

namespace {

constexpr std::string_view k_format = "akbuild-nar-hash-cache 5";

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

} // namespace

Result<NarHashCache::Fingerprint> NarHashCache::fingerprint(const std::filesystem::path& path) {
  ScanOptions options;
  options.max_depth = k_nar_max_depth;
  // A NAR holds no directory metadata; a directory's entries speak for it.
  options.stat_directories = false;
  return stat_fingerprint(path, options);
}

Result<Hash> NarHashCache::nar_hash(const std::filesystem::path& path) {
  m_last_hit = false;
  std::error_code ec;
  auto absolute = std::filesystem::absolute(path, ec).lexically_normal();
  if (ec) return nixdrv::nar_hash(path);
  std::string key = strip_trailing_slashes(absolute.string());
  auto entry = m_dir / to_hex(sha256(key));

  // k_format \n root \n fingerprint \n SRI \n entry count \n
  auto stored = read_file(entry);
  std::vector<std::string_view> lines;
  if (stored) {
    for (std::string_view rest = *stored; !rest.empty();) {
      auto nl = rest.find('\n');
      lines.push_back(rest.substr(0, nl));
      rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    }
  }
  bool ours = lines.size() == 5 && lines[0] == k_format && lines[1] == key;
  // The scan allocates a record per entry: populate that much heap at once (see core/memory.hh).
  if (ours) prefault_heap(std::strtoull(std::string(lines[4]).c_str(), nullptr, 10) * 200);

  std::int64_t started = now_ns();
  auto print = AK_TRY(fingerprint(absolute));
  if (ours && lines[2] == print.digest) {
    if (auto h = Hash::parse_sri(lines[3])) {
      m_last_hit = true;
      return *h;
    }
  }
  auto hash = AK_TRY(nixdrv::nar_hash(absolute));
  auto margin = std::chrono::duration_cast<std::chrono::nanoseconds>(m_margin).count();
  if (print.newest_ns < started - margin) {
    std::string record = std::string(k_format) + "\n" + key + "\n" + print.digest + "\n" + hash.to_sri() + "\n" +
                         std::to_string(print.entries) + "\n";
    if (make_dirs(m_dir)) (void)write_file_atomic(entry, record);
  }
  return hash;
}

} // namespace akbuild::nixdrv
