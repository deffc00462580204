#pragma once
// The persistent stat cache (SQLite, WAL): path -> (dev, inode, size, mtime, ctime, digest).
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
  // Opens (creating) the database at `db_path`. Safe for several processes.
  static Result<std::unique_ptr<StatCache>> open(const std::filesystem::path& db_path);
  virtual ~StatCache() = default;

  // The cached digest for `abs_path` if `info` still matches and the entry is not racily clean.
  virtual std::optional<Digest> lookup(const std::string& abs_path, const FileInfo& info) = 0;
  // Records a digest computed now. Buffered; committed by flush() (or on destruction).
  virtual void record(const std::string& abs_path, const FileInfo& info, const Digest& digest) = 0;
  virtual Result<> flush() = 0;
};

// The digest of a file's content, through the stat cache when given (nullptr = always hash).
Result<Digest> hash_file_cached(StatCache* cache, const std::filesystem::path& abs_path, const FileInfo& info);

} // namespace akbuild::cas
