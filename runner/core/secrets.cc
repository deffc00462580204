#include "runner/core/secrets.hh"

#include <mutex>
#include <set>

#include "runner/core/encoding.hh"

namespace akbuild {

namespace {

constexpr std::size_t k_min_size = 4;

// Longest first, so a secret containing another is masked whole.
struct LongerFirst {
  bool operator()(const std::string& a, const std::string& b) const {
    return a.size() != b.size() ? a.size() > b.size() : a < b;
  }
};

struct Registry {
  std::mutex mutex;
  std::set<std::string, LongerFirst> forms;
  std::set<std::string> values;
};

Registry& registry() {
  static Registry r;
  return r;
}

// Percent-encoding of every byte but RFC 3986's unreserved characters (.NET's EscapeDataString).
std::string url_escaped(std::string_view value) {
  static constexpr char k_hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += k_hex[c >> 4];
      out += k_hex[c & 15];
    }
  }
  return out;
}

// The base64 characters that depend only on `value`'s bytes when it starts `offset` bytes into a
// 3-byte group: characters mixed with the bytes before or after it are cut off.
std::string base64_at(std::string_view value, std::size_t offset) {
  std::string padded(offset, '\0');
  padded += value;
  std::string b64 = to_base64(as_bytes(padded));
  while (!b64.empty() && b64.back() == '=') b64.pop_back();
  std::size_t head = offset == 0 ? 0 : offset + 1;  // 1 byte in: 2 chars mixed; 2 bytes in: 3
  std::size_t tail = padded.size() % 3 == 0 ? 0 : 1;
  if (b64.size() < head + tail) return {};
  return b64.substr(head, b64.size() - head - tail);
}

void add_forms(std::vector<std::string>& out, std::string_view value) {
  out.emplace_back(value);
  out.push_back(json_escaped(value));
  out.push_back(url_escaped(value));
  for (std::size_t offset = 0; offset < 3; ++offset) out.push_back(base64_at(value, offset));
}

} // namespace

std::vector<std::string> secret_forms(std::string_view value) {
  std::vector<std::string> out;
  add_forms(out, value);
  // Each line alone: a step prints a multi-line secret line by line.
  if (value.find('\n') != std::string_view::npos) {
    std::size_t start = 0;
    while (start <= value.size()) {
      auto end = value.find('\n', start);
      if (end == std::string_view::npos) end = value.size();
      auto line = value.substr(start, end - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      add_forms(out, line);
      start = end + 1;
    }
  }
  std::vector<std::string> kept;
  for (auto& f : out)
    if (f.size() >= k_min_size) kept.push_back(std::move(f));
  return kept;
}

void add_secret(std::string value) {
  if (value.size() < k_min_size) return;
  auto forms = secret_forms(value);
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  for (auto& f : forms) r.forms.insert(std::move(f));
  r.values.insert(std::move(value));
}

void add_secret_lines(std::string_view text) {
  while (!text.empty()) {
    auto nl = text.find('\n');
    add_secret(std::string(text.substr(0, nl)));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  }
}

std::string mask_secrets(std::string_view text) {
  std::string out(text);
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  for (const auto& s : r.forms)
    for (std::size_t pos = out.find(s); pos != std::string::npos; pos = out.find(s, pos + 3))
      out.replace(pos, s.size(), "***");
  return out;
}

bool contains_secret(std::string_view text) {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  for (const auto& s : r.forms)
    if (text.find(s) != std::string_view::npos) return true;
  return false;
}

std::optional<std::string> parse_add_mask(std::string_view line) {
  constexpr std::string_view k_command = "::add-mask::";
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  while (!line.empty() && blank(line.front())) line.remove_prefix(1);
  while (!line.empty() && blank(line.back())) line.remove_suffix(1);
  if (!line.starts_with(k_command)) return std::nullopt;
  line.remove_prefix(k_command.size());
  std::string out;
  for (std::size_t i = 0; i < line.size(); ++i) {
    auto rest = line.substr(i);
    if (rest.starts_with("%25")) { out += '%'; i += 2; }
    else if (rest.starts_with("%0D")) { out += '\r'; i += 2; }
    else if (rest.starts_with("%0A")) { out += '\n'; i += 2; }
    else out += line[i];
  }
  return out;
}

std::vector<std::string> secret_values() {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  return {r.values.begin(), r.values.end()};
}

} // namespace akbuild
