#include "runner/cas/digest.hh"

#include <cstring>

#include "runner/core/encoding.hh"

namespace akbuild::cas {

Result<Digest> Digest::parse(std::string_view hex) {
  if (hex.size() != 64) return fail(ErrorCode::invalid_argument, "digest '" + std::string(hex) + "': need 64 hex digits");
  auto bytes = from_hex(hex);
  if (!bytes) return fail(ErrorCode::invalid_argument, "digest '" + std::string(hex) + "': not hex");
  Sha256Bytes b;
  std::memcpy(b.data(), bytes->data(), b.size());
  return Digest(b);
}

Digest Digest::of(std::span<const std::byte> bytes) { return Digest(sha256(bytes)); }

Digest Digest::of(std::string_view text) { return Digest(sha256(text)); }

std::string Digest::hex() const { return to_hex(m_bytes); }

} // namespace akbuild::cas
