#include "nixdrv/signing.hh"

#include <cstring>

#include <sodium.h>

#include "runner/core/encoding.hh"
#include "runner/core/fs.hh"

namespace akbuild::nixdrv {

namespace {

void init_sodium() {
  static const int once = sodium_init();
  (void)once;
}

struct Split {
  std::string name;
  std::vector<std::byte> bytes;
};

Result<Split> split_key(std::string_view text, std::size_t size, std::string_view what) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0)
    return fail(ErrorCode::invalid_argument, std::string(what) + " is not in the form <name>:<base64>");
  auto bytes = from_base64(text.substr(colon + 1));
  if (!bytes) return fail(ErrorCode::invalid_argument, std::string(what) + " '" + std::string(text.substr(0, colon)) +
                                                           "': key is not valid base64");
  if (bytes->size() != size)
    return fail(ErrorCode::invalid_argument, std::string(what) + " '" + std::string(text.substr(0, colon)) + "': key is " +
                                                 std::to_string(bytes->size()) + " bytes, expected " +
                                                 std::to_string(size));
  return Split{std::string(text.substr(0, colon)), std::move(*bytes)};
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

} // namespace

Result<PublicKey> PublicKey::parse(std::string_view text) {
  auto s = AK_TRY(split_key(trim(text), 32, "public key"));
  PublicKey k;
  k.m_name = std::move(s.name);
  std::memcpy(k.m_key.data(), s.bytes.data(), 32);
  return k;
}

std::string PublicKey::to_string() const { return m_name + ":" + to_base64(m_key); }

bool PublicKey::verify(std::string_view message, std::string_view sig) const {
  init_sodium();
  auto s = split_key(sig, 64, "signature");
  if (!s || s->name != m_name) return false;
  return crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(s->bytes.data()),
                                     reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                                     reinterpret_cast<const unsigned char*>(m_key.data())) == 0;
}

Result<SecretKey> SecretKey::parse(std::string_view text) {
  auto s = AK_TRY(split_key(trim(text), 64, "secret key"));
  SecretKey k;
  k.m_name = std::move(s.name);
  std::memcpy(k.m_key.data(), s.bytes.data(), 64);
  sodium_memzero(s.bytes.data(), s.bytes.size());
  // libsodium's secret key is seed ‖ public key; a mismatch means a damaged or hand-made file.
  init_sodium();
  std::array<unsigned char, 32> pk{};
  std::array<unsigned char, 64> sk{};
  crypto_sign_seed_keypair(pk.data(), sk.data(), reinterpret_cast<const unsigned char*>(k.m_key.data()));
  sodium_memzero(sk.data(), sk.size());
  if (std::memcmp(pk.data(), k.m_key.data() + 32, 32) != 0)
    return fail(ErrorCode::invalid_argument, "secret key '" + k.m_name + "': its public half does not match its seed");
  return k;
}

Result<SecretKey> SecretKey::load(const std::filesystem::path& path) {
  auto text = read_file(path);
  if (!text) return fail(ErrorCode::invalid_argument, text.error().message);
  auto key = parse(*text);
  sodium_memzero(text->data(), text->size());
  if (!key) return fail(key.error().context(path.string()));
  return key;
}

SecretKey SecretKey::generate(std::string name) {
  init_sodium();
  SecretKey k;
  k.m_name = std::move(name);
  std::array<unsigned char, 32> pk{};
  crypto_sign_keypair(pk.data(), reinterpret_cast<unsigned char*>(k.m_key.data()));
  return k;
}

std::string SecretKey::to_string() const { return m_name + ":" + to_base64(m_key); }

PublicKey SecretKey::public_key() const {
  PublicKey p;
  p.m_name = m_name;
  std::memcpy(p.m_key.data(), m_key.data() + 32, 32);
  return p;
}

std::string SecretKey::sign(std::string_view message) const {
  init_sodium();
  std::array<std::byte, 64> sig{};
  crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                       reinterpret_cast<const unsigned char*>(m_key.data()));
  return m_name + ":" + to_base64(sig);
}

} // namespace akbuild::nixdrv
