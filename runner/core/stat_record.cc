#include "runner/core/stat_record.hh"

#include <algorithm>
#include <cstring>
#include <span>

#include "runner/core/encoding.hh"

namespace akbuild {

void append_stat_record(std::string& out, std::string_view rel, const FileInfo& info, std::string_view extra) {
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
  out.append(reinterpret_cast<const char*>(&r), sizeof r).append(rel).append(extra);
}

void add_stat_record(Hasher& hasher, std::string_view rel, const FileInfo& info, std::string_view extra) {
  thread_local std::string record;
  record.clear();
  append_stat_record(record, rel, info, extra);
  hasher.update(record);
}

Result<StatFingerprint> stat_fingerprint(const std::filesystem::path& root, const ScanOptions& options,
                                         const std::function<std::string(const ScanEntry&)>& extra) {
  StatFingerprint print;
  if (!extra) {
    ScanOptions digesting = options;
    digesting.stat_digests = true;
    auto tree = AK_TRY(scan_tree(root, digesting));
    auto digest = tree.stat_digest();
    print.digest = to_hex(digest.bytes);
    print.newest_ns = digest.newest_ns;
    print.entries = tree.size();
    return print;
  }
  auto tree = AK_TRY(scan_tree(root, options));
  Hasher hasher(HashAlgo::sha256);
  print.entries = tree.size();
  AK_TRY_VOID(tree.visit([&](ScanEntry& e) -> Result<> {
    if (e.info.type == FileType::other) return fail(unsupported_type_error(e.rel, e.info).context(root.string()));
    add_stat_record(hasher, e.rel, e.info, extra(e));
    print.newest_ns = std::max({print.newest_ns, e.info.mtime_ns, e.info.ctime_ns});
    return ok();
  }));
  print.digest = to_hex(hasher.finish());
  return print;
}

} // namespace akbuild
