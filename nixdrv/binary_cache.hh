#pragma once
// A `file://` binary cache that real Nix substitutes from (nix.md §7; Nix binary-cache-store.cc):
//   nix-cache-info                      StoreDir: /nix/store
//   <hash32>.narinfo                    see narinfo.hh
//   nar/<nix32 sha256 of file>.nar[.xz|.zst]
// Paths are added as content-addressed sources (like `nix-store --add`: a NAR with sha256 and no
// references), so their narinfo carries `CA: fixed:r:sha256:<nix32>`. The NAR is streamed
// through the compressor into a temp file that is renamed to its content name; the narinfo is
// written last, atomically, so readers never see a narinfo whose NAR is missing.
// Usage: auto cache = AK_TRY(FileBinaryCache::open("file:///srv/cache"));
//        auto info = AK_TRY(cache.add_path("out", "hello", {Compression::xz, &key}));

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "nixdrv/narinfo.hh"
#include "nixdrv/signing.hh"
#include "runner/core/result.hh"
#include "runner/core/sink.hh"

namespace akbuild::nixdrv {

enum class Compression { none, xz, zstd };

// "none", "xz", "zstd" (as in narinfo's Compression field).
std::string_view to_string(Compression c);
std::optional<Compression> parse_compression(std::string_view name);

struct CacheAddOptions {
  Compression compression = Compression::xz;
  const SecretKey* key = nullptr;  // sign the narinfo when set
};

class FileBinaryCache {
public:
  // `file:///abs/dir` or a plain directory path; creates the directory and nix-cache-info.
  static Result<FileBinaryCache> open(std::string_view url);
  const std::filesystem::path& dir() const { return m_dir; }

  // Adds `path` (file, symlink or directory) as the source store path named `name`.
  Result<NarInfo> add_path(const std::filesystem::path& path, std::string_view name, const CacheAddOptions& options);

private:
  explicit FileBinaryCache(std::filesystem::path dir) : m_dir(std::move(dir)) {}
  std::filesystem::path m_dir;
};

// A sink that compresses into another sink; finish() flushes the end of the stream.
class CompressSink : public Sink {
public:
  // nullptr-free: Compression::none gives a pass-through sink.
  static std::unique_ptr<CompressSink> create(Compression c, Sink& out);
  virtual Result<> finish() = 0;
};

} // namespace akbuild::nixdrv
