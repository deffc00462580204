#include "runner/core/stat_record.hh"

#include <cstdint>
#include <cstring>
#include <span>

namespace akbuild {

void add_stat_record(Hasher& hasher, std::string_view rel, char type, const FileInfo& info, std::string_view extra) {
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
  r.type = type;
  hasher.update(std::as_bytes(std::span(&r, 1)));
  hasher.update(rel);
  hasher.update(extra);
}

} // namespace akbuild
