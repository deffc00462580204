#include "runner/core/hash.hh"

#include <cstring>
#include <stdexcept>

// SHA-256 goes through OpenSSL's direct interface, deprecated in 3.0 in favour of EVP: the first
// EVP digest of a process fetches from the providers, loads openssl.cnf and the error strings,
// about a third of a short command's CPU time (perf, `akbuild nix hash-path` of a small tree).
// The direct functions run the same assembly (SHA-NI where the CPU has it) with none of that.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/evp.h>
#include <openssl/sha.h>

namespace akbuild {

namespace {
// Fetched once: OpenSSL 3 looks an implicit EVP_md5() up in its provider tables (under a lock)
// at every EVP_DigestInit_ex, which costs more than hashing a small file. Kept for the process.
const EVP_MD* fetch(const char* name, const EVP_MD* fallback) {
  const EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
  return md ? md : fallback;
}

// The other algorithms, through EVP (sha256 never comes here).
const EVP_MD* evp_md(HashAlgo algo) {
  switch (algo) {
  case HashAlgo::md5: {
    static const EVP_MD* const md = fetch("MD5", EVP_md5());
    return md;
  }
  case HashAlgo::sha1: {
    static const EVP_MD* const md = fetch("SHA1", EVP_sha1());
    return md;
  }
  case HashAlgo::sha256:
  case HashAlgo::sha512: break;
  }
  static const EVP_MD* const md = fetch("SHA512", EVP_sha512());
  return md;
}
} // namespace

std::string_view to_string(HashAlgo algo) {
  switch (algo) {
  case HashAlgo::md5: return "md5";
  case HashAlgo::sha1: return "sha1";
  case HashAlgo::sha256: return "sha256";
  case HashAlgo::sha512: return "sha512";
  }
  return "sha256";
}

std::optional<HashAlgo> parse_hash_algo(std::string_view name) {
  if (name == "md5") return HashAlgo::md5;
  if (name == "sha1") return HashAlgo::sha1;
  if (name == "sha256") return HashAlgo::sha256;
  if (name == "sha512") return HashAlgo::sha512;
  return std::nullopt;
}

std::size_t digest_size(HashAlgo algo) {
  switch (algo) {
  case HashAlgo::md5: return 16;
  case HashAlgo::sha1: return 20;
  case HashAlgo::sha256: return 32;
  case HashAlgo::sha512: return 64;
  }
  return 32;
}

// sha256 in `direct`; the others in `evp`.
struct Hasher::Ctx {
  SHA256_CTX direct{};
  EVP_MD_CTX* evp = nullptr;
  ~Ctx() { EVP_MD_CTX_free(evp); }
};

Hasher::Hasher(HashAlgo algo) : m_algo(algo), m_ctx(std::make_unique<Ctx>()) {
  if (algo == HashAlgo::sha256) {
    SHA256_Init(&m_ctx->direct);
    return;
  }
  // Allocation failure inside OpenSSL is a "cannot start" condition.
  m_ctx->evp = EVP_MD_CTX_new();
  if (!m_ctx->evp || EVP_DigestInit_ex(m_ctx->evp, evp_md(algo), nullptr) != 1)
    throw std::runtime_error("OpenSSL digest initialisation failed");
}
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;
Hasher::~Hasher() = default;

void Hasher::update(std::span<const std::byte> bytes) {
  if (m_algo == HashAlgo::sha256) SHA256_Update(&m_ctx->direct, bytes.data(), bytes.size());
  else EVP_DigestUpdate(m_ctx->evp, bytes.data(), bytes.size());
}

void Hasher::update(std::string_view text) { update(std::as_bytes(std::span(text.data(), text.size()))); }

std::vector<std::byte> Hasher::finish() {
  std::vector<std::byte> out(digest_size(m_algo));
  auto* bytes = reinterpret_cast<unsigned char*>(out.data());
  if (m_algo == HashAlgo::sha256) {
    SHA256_Final(bytes, &m_ctx->direct);
    SHA256_Init(&m_ctx->direct);
    return out;
  }
  unsigned int len = 0;
  EVP_DigestFinal_ex(m_ctx->evp, bytes, &len);
  EVP_DigestInit_ex(m_ctx->evp, evp_md(m_algo), nullptr);
  out.resize(len);
  return out;
}

Sha256Bytes sha256(std::span<const std::byte> bytes) {
  // Not OpenSSL's SHA256(): in 3.0 that is an EVP digest.
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, bytes.data(), bytes.size());
  Sha256Bytes out{};
  SHA256_Final(reinterpret_cast<unsigned char*>(out.data()), &ctx);
  return out;
}

Sha256Bytes sha256(std::string_view text) {
  return sha256(std::as_bytes(std::span(text.data(), text.size())));
}

} // namespace akbuild
