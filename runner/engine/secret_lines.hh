#pragma once
// Manifest lines that hold a secret (runner/core/secrets.hh) are never stored or printed as they
// are: such a line becomes `<name>: (secret) <HMAC-SHA256 hex>`, keyed by a random key of the
// cache dir (<cache>/hmac-key: 32 bytes, mode 0600, owned by the cache's user). Equal secrets
// give equal lines on this cache and a rotated secret a different one, so keys and `--explain`
// still work; but neither a stored manifest nor a printed action key lets anyone test guesses
// of a weak secret without the key file.
//
// Consequence: the action key of a step whose manifest holds a secret depends on the cache's
// key, so such a step hits only in caches sharing that key file (copy it, mode 0600, to share
// such results between hosts). Steps without secrets keep the same key on every machine.

#include <array>
#include <filesystem>
#include <string>
#include <string_view>

#include "runner/core/result.hh"

namespace akbuild::engine {

class HmacKey {
public:
  // The key of the cache at `cache_root`, created on first use: written to a temp file and
  // linked into place, so processes racing to create it agree on one. A cache dir that cannot
  // be written gets a key for this process only (nothing keyed by it can be stored there anyway).
  // failed_precondition naming the file when it is not 32 bytes, not a regular file owned by
  // this user, or readable or writable by others.
  static Result<HmacKey> open(const std::filesystem::path& cache_root);
  // HMAC-SHA256 of `text`, lower-case hex.
  std::string hmac_hex(std::string_view text) const;

private:
  std::array<unsigned char, 32> m_key{};
};

// `manifest` (sorted '\n'-ended lines) with every line holding a secret keyed as above; returned
// unchanged, without touching the key file, when no line does.
Result<std::string> key_secret_lines(const std::string& manifest, const std::filesystem::path& cache_root);

} // namespace akbuild::engine
