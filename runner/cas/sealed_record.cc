#include "runner/cas/sealed_record.hh"

#include <charconv>

#include "runner/cas/digest.hh"

namespace akbuild::cas {

namespace {

constexpr std::string_view k_magic = "akbuild-record ";

// The next space- or newline-terminated field of `header`, advancing it.
std::string_view next_field(std::string_view& header) {
  auto end = header.find(' ');
  std::string_view field = header.substr(0, end);
  header = end == std::string_view::npos ? std::string_view{} : header.substr(end + 1);
  return field;
}

} // namespace

std::string seal_record(std::string_view kind, std::string_view payload) {
  std::string out;
  out.reserve(k_magic.size() + kind.size() + 90 + payload.size());
  out.append(k_magic).append(kind).append(" ").append(std::to_string(payload.size())).append(" ");
  out.append(Digest::of(payload).hex()).append("\n").append(payload);
  return out;
}

Result<std::string_view> unseal_record(std::string_view kind, std::string_view bytes) {
  auto corrupt = [&](std::string_view why) {
    return fail(ErrorCode::corrupt, std::string(kind) + " record: " + std::string(why));
  };
  if (bytes.empty()) return corrupt("empty");
  auto nl = bytes.find('\n');
  if (!bytes.starts_with(k_magic) || nl == std::string_view::npos) return corrupt("no akbuild-record header");
  std::string_view header = bytes.substr(k_magic.size(), nl - k_magic.size());
  std::string_view payload = bytes.substr(nl + 1);
  if (next_field(header) != kind) return corrupt("header names another kind");
  std::string_view length = next_field(header);
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(length.data(), length.data() + length.size(), n);
  if (ec != std::errc() || end != length.data() + length.size() || length.empty())
    return corrupt("bad length in header");
  if (n != payload.size())
    return corrupt("holds " + std::to_string(payload.size()) + " bytes, header says " + std::to_string(n) +
                   " (truncated?)");
  auto sum = Digest::parse(next_field(header));
  if (!sum || !header.empty()) return corrupt("bad checksum in header");
  if (Digest::of(payload) != *sum) return corrupt("checksum does not match its content");
  return payload;
}

} // namespace akbuild::cas
