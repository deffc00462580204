#pragma once
// Reproducible layer tars: POSIX.1-2001 pax interchange format (ustar headers, pax extended
// headers 'x' only where ustar cannot hold a value). Grammar of the stream:
//
//   archive := entry* block(0)*2
//   entry   := [pax-header pax-records pad] ustar-header data pad
//   pax-records := ("<len> <key>=<value>\n")*     (len counts the whole record)
//
// Every header: mtime fixed (SOURCE_DATE_EPOCH, else 1), uid/gid 0 unless overridden,
// uname/gname empty, devmajor/minor 0; names relative, directories end in '/'.
// Pax records are written only for: path or linkpath longer than 100 bytes or not ASCII,
// size >= 8 GiB, uid/gid >= 8^7. No atime/ctime is ever written.
//
// Written by hand rather than with libarchive: libarchive's pax writer decides on its own which
// extended records to add (atime/ctime, SCHILY.*, LIBARCHIVE.*), pads to 10 KiB records and has
// changed its byte output between releases, while a layer digest must be the same everywhere.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "runner/core/glob.hh"
#include "runner/core/result.hh"
#include "runner/core/sink.hh"

namespace akbuild::oci {

// An owner/mode override for the image paths a glob matches (path without the leading '/').
struct PermRule {
  Glob glob;
  std::optional<std::uint32_t> mode;  // permission bits (07777)
  std::optional<std::uint32_t> uid, gid;
};

struct TarOptions {
  std::string destination = "/";            // where the source lands in the image ("/app")
  std::optional<std::uint32_t> uid, gid;    // default owner of every entry (else 0:0)
  std::optional<std::uint32_t> mode;        // permission bits for every file and directory
  // Permission bits of the source's directories in place of their own (not of synthesized
  // parents), for a source whose directory modes are not part of what it is keyed by.
  std::optional<std::uint32_t> directory_mode;
  std::vector<PermRule> perms;              // later rules win
  std::int64_t mtime = 1;                   // seconds since the epoch
};

// The mtime to use: SOURCE_DATE_EPOCH when set to a valid integer, else 1.
std::int64_t default_mtime();

// Normalizes a destination ("/app/", "app", "/") to its image-relative form ("app", "", "");
// invalid_argument on '..', '.', empty components inside, or NUL.
Result<std::string> normalize_destination(std::string_view destination);

// Writes the tar of `source` (a directory: its content goes under the destination; a file or
// symlink: it goes into the destination directory under its own name) into `out`.
// Parent directories of the destination are synthesized (0755, owner as the defaults).
// Hardlinked regular files inside the source become tar hardlinks to the first path.
// With `source_dir` (an open directory), that directory is read and `source` only names it.
Result<> write_layer_tar(const std::filesystem::path& source, const TarOptions& options, Sink& out,
                         int source_dir = -1);

// One header block (plus pax records before it when needed). Exposed for tests.
struct TarEntry {
  std::string name;       // image-relative, directories with a trailing '/'
  char type = '0';        // '0' file, '1' hardlink, '2' symlink, '5' directory
  std::uint32_t mode = 0644;
  std::uint32_t uid = 0, gid = 0;
  std::uint64_t size = 0;
  std::int64_t mtime = 1;
  std::string linkname;
};
Result<> write_tar_header(const TarEntry& entry, Sink& out);
// The zero padding after `size` data bytes.
Result<> write_tar_padding(std::uint64_t size, Sink& out);
// The two zero blocks that end an archive.
Result<> write_tar_end(Sink& out);

} // namespace akbuild::oci
