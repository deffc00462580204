#include "runner/engine/manifest.hh"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "runner/core/encoding.hh"
#include "runner/core/hash.hh"

namespace akbuild::engine {

std::string Manifest::text() const {
  std::vector<std::string_view> lines;
  lines.reserve(m_lines.size());
  for (auto [offset, size] : m_lines) lines.emplace_back(m_buffer.data() + offset, size);
  std::sort(lines.begin(), lines.end());
  std::size_t size = 0;
  for (auto l : lines) size += l.size() + 1;
  std::string out;
  out.reserve(size);
  for (auto l : lines) {
    out += l;
    out += '\n';
  }
  return out;
}

cas::Digest Manifest::key() const { return key_of(text()); }

cas::Digest Manifest::key_of(std::string_view text) { return cas::Digest::of(text); }

void append_manifest_path(std::string& out, std::string_view path) {
  bool plain = !path.empty() && path.front() != ' ' && path.back() != ' ' && path.front() != '"';
  for (unsigned char c : path)
    if (c < 0x20 || c == ':' || c == '"' || c == '\\' || c == 0x7f) plain = false;
  if (plain) out.append(path);
  else out += nlohmann::json(std::string(path)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string manifest_path(std::string_view path) {
  std::string out;
  append_manifest_path(out, path);
  return out;
}

void append_input_mode(std::string& line, bool executable, unsigned permissions) {
  if (executable) line.append(" x");
  unsigned usual = executable ? 0755 : 0644;
  if ((permissions & 07777) == usual) return;
  char octal[8];
  std::snprintf(octal, sizeof octal, "%04o", permissions & 07777);
  line.append(" mode ").append(octal);
}

std::pair<std::string, std::string> split_manifest_line(std::string_view line) {
  // A quoted path may hold ": "; skip past it first.
  std::size_t from = 0;
  auto space = line.find(' ');
  if (space != std::string_view::npos && space + 1 < line.size() && line[space + 1] == '"') {
    for (std::size_t i = space + 2; i < line.size(); ++i) {
      if (line[i] == '\\') { ++i; continue; }
      if (line[i] == '"') { from = i; break; }
    }
  }
  auto sep = line.find(": ", from);
  if (sep == std::string_view::npos) {
    if (!line.empty() && line.back() == ':') return {std::string(line.substr(0, line.size() - 1)), ""};
    return {std::string(line), ""};
  }
  return {std::string(line.substr(0, sep)), std::string(line.substr(sep + 2))};
}

} // namespace akbuild::engine
