#pragma once
// cas::Digest: the SHA-256 that names every blob and tree in the CAS.

#include <compare>
#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "runner/core/hash.hh"
#include "runner/core/result.hh"

namespace akbuild::cas {

class Digest {
public:
  Digest() = default;
  explicit Digest(const Sha256Bytes& bytes) : m_bytes(bytes) {}
  // From 64 lower- or upper-case hex digits; invalid_argument otherwise.
  static Result<Digest> parse(std::string_view hex);
  // The digest of a buffer.
  static Digest of(std::span<const std::byte> bytes);
  static Digest of(std::string_view text);

  std::string hex() const;
  const Sha256Bytes& bytes() const { return m_bytes; }
  auto operator<=>(const Digest&) const = default;

private:
  Sha256Bytes m_bytes{};
};

} // namespace akbuild::cas

template <>
struct std::hash<akbuild::cas::Digest> {
  std::size_t operator()(const akbuild::cas::Digest& d) const noexcept {
    std::size_t h = 0;
    for (std::size_t i = 0; i < sizeof h; ++i) h = h << 8 | std::to_integer<std::size_t>(d.bytes()[i]);
    return h;
  }
};
