#pragma once
// The tar streams of CopyIn and CopyOut (POSIX/pax tar, as forgejo-runner writes and reads them).
// libarchive parses what comes in, akbuild does the file system side itself; what goes out is
// written by the image layer's tar writer (libarchive's writer would link its every format in).
//
// Extraction takes nothing on trust: an entry whose name is absolute or holds `..`, or whose
// way (its own parent dirs, or a hard link's target) passes through a symlink, is refused, so
// nothing is written outside the destination whatever earlier entries or the job left there.
// Entries are regular files, directories, symlinks (written verbatim, never followed) and hard
// links within the archive; modes keep their rwx bits only (no setuid, setgid or sticky).

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "runner/core/result.hh"

namespace akbuild::plugin {

// The next piece of the archive; an empty string at its end. An error stops the extraction.
using ChunkSource = std::function<Result<std::string>()>;

// Extracts the archive read from `next` into the directory `dest` (it must exist and is
// trusted: open it beneath its own root first); invalid_argument naming a refused entry or a
// malformed archive.
Result<> extract_tar(const std::filesystem::path& dest, const ChunkSource& next);

struct ArchiveOptions {
  // Any tar (plain, gzip, bzip2, xz, zstd) or a zip, told apart by content; else plain tar only.
  bool any_format = false;
  // Symlinks must point inside `dest`: an absolute target, or a relative one that climbs above
  // `dest` from the link's directory, is refused (a fetched tree never points out of itself).
  bool contained_links = false;
};
// Extracts the archive file `archive` into `dest` with extract_tar's checks on names and ways.
// Read from a file, a zip's central directory (modes, symlinks) is seen, as unzip sees it.
// invalid_argument naming the refused entry, or the file when it is not such an archive.
Result<> extract_archive(const std::filesystem::path& dest, const std::filesystem::path& archive,
                         const ArchiveOptions& options);

// Writes a tar of `path` (a file, or a directory and all below it, symlinks as links) under the
// entry name `name` (owner 0:0, mtime 1, as image layers), in pieces to `out`; `out` returns
// false to stop (the reader went away), which ends the call with cancelled.
Result<> write_tar(const std::filesystem::path& path, const std::string& name,
                   const std::function<bool(std::string_view)>& out);

} // namespace akbuild::plugin
