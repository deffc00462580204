#include "runner/core/stat_record.hh"

#include <algorithm>
#include <cstring>
#include <span>

#include "runner/core/encoding.hh"

namespace akbuild {

void add_stat_record(Hasher& hasher, std::string_view rel, const FileInfo& info, std::string_view extra) {
  struct Record {
    std::uint64_t rel_size, extra_size, size, dev, ino;
    std::int64_t mtime, ctime;
    std::uint32_t mode;
    char type;
  } r;
  std::memset(&r, 0, sizeof r);  // padding too: it is hashed
  r.rel_size = rel.size();
  r.extra_size = extra.size();
  r.size = info.size;
  r.dev = info.dev;
  r.ino = info.ino;
  r.mtime = info.mtime_ns;
  r.ctime = info.ctime_ns;
  r.mode = info.mode;
  r.type = info.type == FileType::directory ? 'd' : info.type == FileType::symlink ? 'l' : 'f';
  hasher.update(std::as_bytes(std::span(&r, 1)));
  hasher.update(rel);
  hasher.update(extra);
}

Result<StatFingerprint> stat_fingerprint(const std::filesystem::path& root, const ScanOptions& options,
                                         const std::function<std::string(const ScanEntry&)>& extra) {
  auto tree = AK_TRY(scan_tree(root, options));
  Hasher hasher(HashAlgo::sha256);
  StatFingerprint print;
  print.entries = tree.size();
  AK_TRY_VOID(tree.visit([&](ScanEntry& e) -> Result<> {
    if (e.info.type == FileType::other) return fail(unsupported_type_error(e.rel, e.info).context(root.string()));
    if (extra) add_stat_record(hasher, e.rel, e.info, extra(e));
    else add_stat_record(hasher, e.rel, e.info, e.info.type == FileType::symlink ? e.target : std::string_view{});
    print.newest_ns = std::max({print.newest_ns, e.info.mtime_ns, e.info.ctime_ns});
    return ok();
  }));
  print.digest = to_hex(hasher.finish());
  return print;
}

} // namespace akbuild
