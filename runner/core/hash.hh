#pragma once
// Incremental message digests (OpenSSL EVP; SHA-256 uses SHA-NI where the CPU has it).
// Usage: Hasher h(HashAlgo::sha256); h.update(bytes); auto digest = h.finish();

#include <array>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace akbuild {

enum class HashAlgo { md5, sha1, sha256, sha512 };

// "md5", "sha1", "sha256", "sha512".
std::string_view to_string(HashAlgo algo);
// The algorithm called `name`, or nullopt.
std::optional<HashAlgo> parse_hash_algo(std::string_view name);
// Digest length in bytes (16, 20, 32, 64).
std::size_t digest_size(HashAlgo algo);

class Hasher {
public:
  explicit Hasher(HashAlgo algo);
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;
  ~Hasher();

  void update(std::span<const std::byte> bytes);
  void update(std::string_view text);
  // The digest; the hasher is reset and can be used again.
  std::vector<std::byte> finish();
  HashAlgo algo() const { return m_algo; }

private:
  HashAlgo m_algo;
  struct Ctx;
  std::unique_ptr<Ctx> m_ctx;
};

using Sha256Bytes = std::array<std::byte, 32>;

// One-shot SHA-256 of a buffer.
Sha256Bytes sha256(std::span<const std::byte> bytes);
Sha256Bytes sha256(std::string_view text);

} // namespace akbuild
