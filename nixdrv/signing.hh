#pragma once
// ed25519 signing keys in Nix's file format (nix.md §7; Nix src/libstore/crypto.cc):
//   secret  <name>:base64(seed32 ‖ pub32)    (libsodium's 64-byte secret key)
//   public  <name>:base64(pub32)
//   sig     <name>:base64(sig64)
// Usage: auto key = AK_TRY(SecretKey::load("cache.sk")); info.sigs.push_back(key.sign(info.fingerprint()));

#include <array>
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "runner/core/result.hh"

namespace akbuild::nixdrv {

class PublicKey {
public:
  // `name:base64(32 bytes)`; invalid_argument naming the fault otherwise.
  static Result<PublicKey> parse(std::string_view text);
  const std::string& name() const { return m_name; }
  std::string to_string() const;
  // Whether `sig` (`name:base64`) is this key's valid signature of `message`.
  bool verify(std::string_view message, std::string_view sig) const;

private:
  friend class SecretKey;
  std::string m_name;
  std::array<std::byte, 32> m_key{};
};

class SecretKey {
public:
  // `name:base64(64 bytes)`.
  static Result<SecretKey> parse(std::string_view text);
  // Reads and parses a key file (surrounding whitespace ignored); errors name the file.
  static Result<SecretKey> load(const std::filesystem::path& path);
  // A fresh random key pair.
  static SecretKey generate(std::string name);

  const std::string& name() const { return m_name; }
  std::string to_string() const;
  PublicKey public_key() const;
  // `name:base64(ed25519 signature of message)`; deterministic.
  std::string sign(std::string_view message) const;

private:
  std::string m_name;
  std::array<std::byte, 64> m_key{};
};

} // namespace akbuild::nixdrv
