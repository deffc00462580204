#pragma once
// The persistent stat cache: path -> (dev, inode, size, mtime, ctime, digest), in one mapped file
// shared by every akbuild process on the cache dir.
// A file whose stat fields are unchanged is not re-read. A file is "racily clean" when its mtime
// is not older than the moment its entry was written (within the filesystem's timestamp
// granularity): such an entry is not trusted, and the file is re-hashed (as git does).

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runner/cas/digest.hh"
#include "runner/core/walk.hh"

namespace akbuild::cas {

class StatCache {
public:
  // The cache kept in the file `path` (created by the first flush). Safe for several processes.
  // `read_only`: the file is read, and flush() writes nothing (a read-only cache dir).
  static Result<std::unique_ptr<StatCache>> open(const std::filesystem::path& path, bool read_only = false);
  virtual ~StatCache() = default;

  // The cached digest for `abs_path` if `info` still matches and the entry is not racily clean.
  virtual std::optional<Digest> lookup(std::string_view abs_path, const FileInfo& info) = 0;
  // Records a digest computed now. Buffered; committed by flush() (or on destruction).
  virtual void record(std::string_view abs_path, const FileInfo& info, const Digest& digest) = 0;
  virtual Result<> flush() = 0;
};

// The digest of a file's content, through the stat cache when given (nullptr = always hash).
Result<Digest> hash_file_cached(StatCache* cache, const std::filesystem::path& abs_path, const FileInfo& info);

} // namespace akbuild::cas
