#pragma once
// Nix's hash values and their four spellings (nix.md §1; Nix's src/libutil/hash.cc):
//   base16  lower-case hex                       5dbf0585…1cae
//   nix32   Nix's base32, alphabet without e o t u, last 5-bit group printed first
//   base64  RFC 4648 with padding
//   SRI     <algo>-<base64>                      sha256-Xb8Fha8T…aHK4=
// A prefixed hash is `<algo>:<base16|nix32|base64>`; an unprefixed one is decoded by its length.

#include <compare>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runner/core/hash.hh"
#include "runner/core/result.hh"

namespace akbuild::nixdrv {

enum class HashFormat { base16, nix32, base64, sri };

class Hash {
public:
  Hash() = default;
  // Fails unless bytes.size() == digest_size(algo).
  static Result<Hash> from_bytes(HashAlgo algo, std::span<const std::byte> bytes);
  // `sha256-…`, `sha256:…` (any encoding), or a bare encoding when `algo` is given.
  // Errors name the text and the fault ("not a valid sha256 hash: wrong length 51").
  static Result<Hash> parse(std::string_view text, std::optional<HashAlgo> algo = std::nullopt);
  // Like parse, but the text must be SRI.
  static Result<Hash> parse_sri(std::string_view text);
  // The digest of a whole buffer.
  static Hash of(HashAlgo algo, std::string_view data);

  HashAlgo algo() const { return m_algo; }
  std::span<const std::byte> bytes() const { return m_bytes; }

  // The encoding alone (no algo), or with SRI the full `algo-base64`.
  std::string to_string(HashFormat format) const;
  std::string to_sri() const { return to_string(HashFormat::sri); }
  // `<algo>:<encoding>` (base16/nix32/base64), e.g. narinfo's `sha256:1bhw…`.
  std::string to_prefixed(HashFormat format) const;

  auto operator<=>(const Hash&) const = default;

private:
  HashAlgo m_algo = HashAlgo::sha256;
  std::vector<std::byte> m_bytes;
};

// Nix's base32 ("nix32"): encoded length is (8n - 1) / 5 + 1 characters.
std::string nix32_encode(std::span<const std::byte> bytes);
// nullopt for a wrong character, a length that is not an encoding of `size` bytes, or overflow bits.
std::optional<std::vector<std::byte>> nix32_decode(std::string_view text, std::size_t size);
std::size_t nix32_length(std::size_t size);

// XOR-folds a digest to `size` bytes: out[i % size] ^= in[i] (Nix's compressHash; not a truncation).
std::vector<std::byte> compress_hash(std::span<const std::byte> bytes, std::size_t size);

} // namespace akbuild::nixdrv
