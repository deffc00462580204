#include "runner/core/encoding.hh"

#include <array>

namespace akbuild {

namespace {
constexpr std::string_view k_hex_digits = "0123456789abcdef";
constexpr std::string_view k_base64_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
} // namespace

std::string to_hex(std::span<const std::byte> bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (auto b : bytes) {
    auto v = std::to_integer<unsigned>(b);
    out.push_back(k_hex_digits[v >> 4]);
    out.push_back(k_hex_digits[v & 15]);
  }
  return out;
}

std::optional<std::vector<std::byte>> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::vector<std::byte> out(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = std::byte(hi * 16 + lo);
  }
  return out;
}

std::string to_base64(std::span<const std::byte> bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    unsigned v = std::to_integer<unsigned>(bytes[i]) << 16 | std::to_integer<unsigned>(bytes[i + 1]) << 8 |
                 std::to_integer<unsigned>(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(k_base64_alphabet[(v >> s) & 63]);
  }
  std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    unsigned v = std::to_integer<unsigned>(bytes[i]) << 16;
    if (rest == 2) v |= std::to_integer<unsigned>(bytes[i + 1]) << 8;
    out.push_back(k_base64_alphabet[(v >> 18) & 63]);
    out.push_back(k_base64_alphabet[(v >> 12) & 63]);
    out.push_back(rest == 2 ? k_base64_alphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::optional<std::vector<std::byte>> from_base64(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::array<int, 256> value{};
  value.fill(-1);
  for (std::size_t i = 0; i < k_base64_alphabet.size(); ++i)
    value[static_cast<unsigned char>(k_base64_alphabet[i])] = static_cast<int>(i);
  std::vector<std::byte> out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    int pad = 0;
    unsigned v = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      char c = text[i + j];
      if (c == '=') {
        // Padding only in the last group, only at its end.
        if (i + 4 != text.size() || j < 2) return std::nullopt;
        ++pad;
        v <<= 6;
        continue;
      }
      if (pad > 0) return std::nullopt;
      int x = value[static_cast<unsigned char>(c)];
      if (x < 0) return std::nullopt;
      v = v << 6 | static_cast<unsigned>(x);
    }
    out.push_back(std::byte((v >> 16) & 255));
    if (pad < 2) out.push_back(std::byte((v >> 8) & 255));
    if (pad < 1) out.push_back(std::byte(v & 255));
  }
  return out;
}

std::string json_escaped(std::string_view text) {
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    switch (c) {
    case '"': out += "\\\""; break;
    case '\\': out += "\\\\"; break;
    case '\b': out += "\\b"; break;
    case '\f': out += "\\f"; break;
    case '\n': out += "\\n"; break;
    case '\r': out += "\\r"; break;
    case '\t': out += "\\t"; break;
    default:
      if (c < 0x20) {
        out += "\\u00";
        out += k_hex[c >> 4];
        out += k_hex[c & 15];
      } else {
        out += static_cast<char>(c);
      }
    }
  }
  return out;
}

} // namespace akbuild
