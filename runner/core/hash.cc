#include "runner/core/hash.hh"

#include <cstring>
#include <stdexcept>

#include <openssl/evp.h>

namespace akbuild {

namespace {
// Fetched once: OpenSSL 3 looks an implicit EVP_sha256() up in its provider tables (under a lock)
// at every EVP_DigestInit_ex, which costs more than hashing a small file. Kept for the process.
const EVP_MD* fetch(const char* name, const EVP_MD* fallback) {
  const EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
  return md ? md : fallback;
}

const EVP_MD* evp_md(HashAlgo algo) {
  static const EVP_MD* const md5 = fetch("MD5", EVP_md5());
  static const EVP_MD* const sha1 = fetch("SHA1", EVP_sha1());
  static const EVP_MD* const sha256 = fetch("SHA256", EVP_sha256());
  static const EVP_MD* const sha512 = fetch("SHA512", EVP_sha512());
  switch (algo) {
  case HashAlgo::md5: return md5;
  case HashAlgo::sha1: return sha1;
  case HashAlgo::sha256: return sha256;
  case HashAlgo::sha512: return sha512;
  }
  return sha256;
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

struct Hasher::Ctx {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~Ctx() { EVP_MD_CTX_free(ctx); }
};

Hasher::Hasher(HashAlgo algo) : m_algo(algo), m_ctx(std::make_unique<Ctx>()) {
  // Allocation failure inside OpenSSL is a "cannot start" condition.
  if (!m_ctx->ctx || EVP_DigestInit_ex(m_ctx->ctx, evp_md(algo), nullptr) != 1)
    throw std::runtime_error("OpenSSL digest initialisation failed");
}
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;
Hasher::~Hasher() = default;

void Hasher::update(std::span<const std::byte> bytes) {
  EVP_DigestUpdate(m_ctx->ctx, bytes.data(), bytes.size());
}

void Hasher::update(std::string_view text) { EVP_DigestUpdate(m_ctx->ctx, text.data(), text.size()); }

std::vector<std::byte> Hasher::finish() {
  std::vector<std::byte> out(digest_size(m_algo));
  unsigned int len = 0;
  EVP_DigestFinal_ex(m_ctx->ctx, reinterpret_cast<unsigned char*>(out.data()), &len);
  EVP_DigestInit_ex(m_ctx->ctx, evp_md(m_algo), nullptr);
  out.resize(len);
  return out;
}

Sha256Bytes sha256(std::span<const std::byte> bytes) {
  Sha256Bytes out{};
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), reinterpret_cast<unsigned char*>(out.data()), &len,
             evp_md(HashAlgo::sha256), nullptr);
  return out;
}

Sha256Bytes sha256(std::string_view text) {
  return sha256(std::as_bytes(std::span(text.data(), text.size())));
}

} // namespace akbuild
