#pragma once
// Nix archives (NAR), byte-identical to `nix-store --dump` (Nix src/libutil/archive.cc; E. Dolstra,
// The Purely Functional Software Deployment Model, 2006, §5.2.1). Grammar:
//
//   nar   = str("nix-archive-1") node
//   node  = str("(") str("type") body str(")")
//   body  = str("regular") [str("executable") str("")] str("contents") str(<bytes>)
//         | str("symlink") str("target") str(<target>)
//         | str("directory") { str("entry") str("(") str("name") str(<name>) str("node") node str(")") }
//   int(n) = n as u64 little-endian; str(s) = int(|s|) s, zero-padded to a multiple of 8
//
// Entries are sorted by name as unsigned bytes. Executable = st_mode & S_IXUSR. Nothing else of a
// file (mtime, owner, other mode bits, xattrs) is recorded. FIFOs, sockets and devices cannot be
// archived. The parser is as strict as current Nix: names must be strictly increasing and not be
// empty, ".", "..", or contain '/' or NUL (≤ 255 bytes); padding must be zero; `executable` must
// precede `contents` with value ""; symlink targets are 1..4095 bytes; depth ≤ 64; nothing may
// follow the archive.
//
// Usage: FdSink out(1); AK_TRY_VOID(dump_nar("dir", out)); AK_TRY_VOID(out.flush());

#include <cstdint>
#include <filesystem>
#include <span>
#include <string_view>

#include "runner/core/result.hh"
#include "runner/core/sink.hh"

namespace akbuild::nixdrv {

// Directory nesting limit for dumping and parsing (Nix's narMaxDepth).
inline constexpr unsigned k_nar_max_depth = 64;

// Streams the NAR of `path` (file, symlink or directory) into `sink` in constant memory.
// Fails (invalid_argument, naming the entry) on a FIFO, socket or device, a missing root, or a
// file whose size changes while it is read.
Result<> dump_nar(const std::filesystem::path& path, Sink& sink);

// Receives a parsed NAR in order. `rel` is the entry's path below the root ("" for the root), and
// `name` its last component.
class NarVisitor {
public:
  virtual ~NarVisitor() = default;
  virtual Result<> directory_begin(std::string_view rel, std::string_view name) = 0;
  virtual Result<> directory_end(std::string_view /*rel*/) { return ok(); }
  virtual Result<> file_begin(std::string_view rel, std::string_view name, bool executable,
                              std::uint64_t size) = 0;
  virtual Result<> file_data(std::span<const std::byte> bytes) = 0;
  virtual Result<> file_end() { return ok(); }
  virtual Result<> symlink(std::string_view rel, std::string_view name, std::string_view target) = 0;
};

// Parses one NAR from `source`, streaming file contents to the visitor. Errors are corrupt, and
// say what was wrong and at which entry ("NAR: entry 'b' is not after 'c'").
Result<> parse_nar(Source& source, NarVisitor& visitor);

// Parses a NAR and checks it only; returns its size.
Result<std::uint64_t> check_nar(Source& source);

// Restores a NAR read from `source` as `dest`, which must not exist. Everything is written into a
// fresh temp sibling and renamed into place at the end, so a failure leaves no `dest`. Files are
// created with O_EXCL | O_NOFOLLOW below directories opened with O_NOFOLLOW: nothing is ever
// written through a symlink.
Result<> restore_nar(Source& source, const std::filesystem::path& dest);

} // namespace akbuild::nixdrv
