#pragma once
// A file that appears at its path whole or not at all: written to a temp file beside the path,
// then fsync, rename over the path, fsync of its directory. Dropped without a commit, the temp
// file is removed, so a failed or killed write leaves the old content (or nothing) behind; a
// killed process leaves at most a `.tmp-<name>-XXXXXX`, which cache gc removes.
//
// Usage:
//   auto file = AK_TRY(AtomicFile::create(path));
//   FdSink out(file.fd());
//   ... AK_TRY_VOID(out.flush());
//   AK_TRY_VOID(file.commit());

#include <filesystem>
#include <string_view>

#include "runner/core/fs.hh"
#include "runner/core/result.hh"

namespace akbuild {

class AtomicFile {
public:
  // synced: fsync the file before and the directory after the rename (a crash keeps the old
  // content or the new). unsynced: only the rename, for data that is checked when read and may
  // be lost (a cache of derived facts): no disk flush on a hot path.
  enum class Durability { synced, unsynced };

  // A temp file beside `path` (its directory must exist), created with `mode` (umask applies).
  static Result<AtomicFile> create(const std::filesystem::path& path, int mode = 0644,
                                   Durability durability = Durability::synced);
  AtomicFile(AtomicFile&& other) noexcept;
  AtomicFile& operator=(AtomicFile&&) = delete;
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  // The temp file's descriptor, open for writing, until commit.
  int fd() const { return m_fd.get(); }
  const std::filesystem::path& temp_path() const { return m_temp; }

  // Puts the written content at the path given to create, replacing what was there.
  Result<> commit();
  // The same at `target` instead: a name known only once the content is (a digest); it must be
  // on the same filesystem, e.g. in the same directory.
  Result<> commit_as(const std::filesystem::path& target);

private:
  AtomicFile(std::filesystem::path path, std::filesystem::path temp, UniqueFd fd, Durability durability)
      : m_path(std::move(path)), m_temp(std::move(temp)), m_fd(std::move(fd)), m_durability(durability) {}

  std::filesystem::path m_path;
  std::filesystem::path m_temp;  // empty once committed (or moved from)
  UniqueFd m_fd;
  Durability m_durability;
};

} // namespace akbuild
