#pragma once
// Byte encodings shared by every layer: lower-case hex (base16), RFC 4648 base64 with padding,
// and the escaping of JSON strings.
// Nix's own base32 lives in nixdrv/hash.hh, since nothing else uses it.

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace akbuild {

std::string to_hex(std::span<const std::byte> bytes);
// The bytes of a hex string (either case), or nullopt if it is not hex of even length.
std::optional<std::vector<std::byte>> from_hex(std::string_view hex);

std::string to_base64(std::span<const std::byte> bytes);
// The bytes of padded standard base64, or nullopt if malformed.
std::optional<std::vector<std::byte>> from_base64(std::string_view text);

// The text between the quotes of a JSON string holding `text` (RFC 8259 section 7): '"', '\'
// and control characters escaped (\n, \t, ... or \u00XX), other bytes (UTF-8) kept.
std::string json_escaped(std::string_view text);

inline std::span<const std::byte> as_bytes(std::string_view text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}
inline std::string_view as_chars(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

} // namespace akbuild
