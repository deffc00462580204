#pragma once
// The .narinfo files of a binary cache (nix.md §7; Nix src/libstore/nar-info.cc). Lines are
// `Key: value`, written in this order: StorePath URL Compression FileHash FileSize NarHash
// NarSize References Deriver Sig* CA. `References: ` keeps its trailing space when empty.
// The signed fingerprint is `1;<path>;sha256:<nix32 nar hash>;<nar size>;<refs, comma-joined>`.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nixdrv/hash.hh"
#include "nixdrv/store_path.hh"
#include "runner/core/result.hh"

namespace akbuild::nixdrv {

struct NarInfo {
  StorePath path;
  std::string url;                 // nar/<filehash>.nar[.xz|.zst]
  std::string compression = "none";
  std::optional<Hash> file_hash;
  std::uint64_t file_size = 0;     // 0 = not given
  Hash nar_hash;
  std::uint64_t nar_size = 0;
  StorePathSet references;
  std::optional<StorePath> deriver;
  std::vector<std::string> sigs;   // "<keyname>:<base64>"
  std::string ca;                  // "" or "fixed:r:sha256:<nix32>" etc.

  // The text of the .narinfo file.
  std::string to_string(std::string_view store_dir = k_store_dir) const;
  // Parses a .narinfo; hashes may be nix32, hex or SRI. Requires StorePath, URL, NarHash, NarSize.
  static Result<NarInfo> parse(std::string_view text, std::string_view store_dir = k_store_dir);
  // The message signatures are made over.
  std::string fingerprint(std::string_view store_dir = k_store_dir) const;
};

} // namespace akbuild::nixdrv
