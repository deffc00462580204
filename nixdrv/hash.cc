#include "nixdrv/hash.hh"

#include "runner/core/encoding.hh"

namespace akbuild::nixdrv {

namespace {

constexpr std::string_view k_nix32_alphabet = "0123456789abcdfghijklmnpqrsvwxyz";

std::size_t base64_length(std::size_t size) { return (size + 2) / 3 * 4; }

Error bad(std::string_view text, std::string_view why) {
  return Error{ErrorCode::invalid_argument, "'" + std::string(text) + "' is not a valid hash: " + std::string(why)};
}

// Decodes `enc` as a hash of `algo`, choosing the encoding by its length. `sri` allows base64 only.
Result<Hash> decode(std::string_view whole, std::string_view enc, HashAlgo algo, bool sri) {
  std::size_t size = digest_size(algo);
  std::optional<std::vector<std::byte>> bytes;
  if (!sri && enc.size() == size * 2) bytes = from_hex(enc);
  else if (!sri && enc.size() == nix32_length(size)) bytes = nix32_decode(enc, size);
  else if (enc.size() == base64_length(size)) {
    bytes = from_base64(enc);
    if (bytes && bytes->size() != size) bytes.reset();
  } else {
    return fail(bad(whole, "wrong length " + std::to_string(enc.size()) + " for " + std::string(to_string(algo))));
  }
  if (!bytes) return fail(bad(whole, "bad character in " + std::string(to_string(algo)) + " digest"));
  return Hash::from_bytes(algo, *bytes);
}

} // namespace

std::size_t nix32_length(std::size_t size) { return size == 0 ? 0 : (size * 8 - 1) / 5 + 1; }

std::string nix32_encode(std::span<const std::byte> bytes) {
  std::size_t len = nix32_length(bytes.size());
  std::string out;
  out.reserve(len);
  for (std::size_t n = len; n-- > 0;) {
    std::size_t b = n * 5, i = b / 8, j = b % 8;
    unsigned c = static_cast<unsigned>(bytes[i]) >> j;
    if (i + 1 < bytes.size()) c |= static_cast<unsigned>(bytes[i + 1]) << (8 - j);
    out.push_back(k_nix32_alphabet[c & 31]);
  }
  return out;
}

std::optional<std::vector<std::byte>> nix32_decode(std::string_view text, std::size_t size) {
  if (text.size() != nix32_length(size)) return std::nullopt;
  std::vector<std::byte> out(size);
  for (std::size_t n = 0; n < text.size(); ++n) {
    char ch = text[text.size() - n - 1];
    auto pos = k_nix32_alphabet.find(ch);
    if (pos == std::string_view::npos) return std::nullopt;
    unsigned digit = static_cast<unsigned>(pos);
    std::size_t b = n * 5, i = b / 8, j = b % 8;
    out[i] |= static_cast<std::byte>((digit << j) & 0xff);
    unsigned carry = digit >> (8 - j);
    if (i + 1 < size) out[i + 1] |= static_cast<std::byte>(carry);
    else if (carry) return std::nullopt;
  }
  return out;
}

std::vector<std::byte> compress_hash(std::span<const std::byte> bytes, std::size_t size) {
  std::vector<std::byte> out(size);
  for (std::size_t i = 0; i < bytes.size(); ++i) out[i % size] ^= bytes[i];
  return out;
}

Result<Hash> Hash::from_bytes(HashAlgo algo, std::span<const std::byte> bytes) {
  if (bytes.size() != digest_size(algo))
    return fail(ErrorCode::invalid_argument, std::string(akbuild::to_string(algo)) + " digest must be " +
                                                 std::to_string(digest_size(algo)) + " bytes, not " +
                                                 std::to_string(bytes.size()));
  Hash h;
  h.m_algo = algo;
  h.m_bytes.assign(bytes.begin(), bytes.end());
  return h;
}

Hash Hash::of(HashAlgo algo, std::string_view data) {
  Hasher hasher(algo);
  hasher.update(data);
  Hash h;
  h.m_algo = algo;
  h.m_bytes = hasher.finish();
  return h;
}

Result<Hash> Hash::parse(std::string_view text, std::optional<HashAlgo> algo) {
  auto sep = text.find_first_of(":-");
  if (sep != std::string_view::npos) {
    std::string_view name = text.substr(0, sep);
    auto parsed = parse_hash_algo(name);
    if (!parsed) return fail(bad(text, "unknown algorithm '" + std::string(name) + "'"));
    if (algo && *algo != *parsed)
      return fail(bad(text, "expected " + std::string(akbuild::to_string(*algo)) + ", got " + std::string(name)));
    return decode(text, text.substr(sep + 1), *parsed, text[sep] == '-');
  }
  if (algo) return decode(text, text, *algo, false);
  // Lengths are ambiguous across algorithms (32 = md5 hex = sha1 nix32), so like Nix require a type.
  return fail(bad(text, text.empty() ? "empty" : "it does not include a type (write sha256:... or sha256-...)"));
}

Result<Hash> Hash::parse_sri(std::string_view text) {
  auto sep = text.find('-');
  if (sep == std::string_view::npos) return fail(bad(text, "not in SRI form <algo>-<base64>"));
  return parse(text);
}

std::string Hash::to_string(HashFormat format) const {
  switch (format) {
  case HashFormat::base16: return to_hex(m_bytes);
  case HashFormat::nix32: return nix32_encode(m_bytes);
  case HashFormat::base64: return to_base64(m_bytes);
  case HashFormat::sri: return std::string(akbuild::to_string(m_algo)) + "-" + to_base64(m_bytes);
  }
  return {};
}

std::string Hash::to_prefixed(HashFormat format) const {
  if (format == HashFormat::sri) return to_sri();
  return std::string(akbuild::to_string(m_algo)) + ":" + to_string(format);
}

} // namespace akbuild::nixdrv
