#include "runner/engine/explain.hh"

#include <map>
#include <sstream>

#include "runner/engine/manifest.hh"

namespace akbuild::engine {

namespace {

std::multimap<std::string, std::string> parse(const std::string& text) {
  std::multimap<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto [name, value] = split_manifest_line(line);
    out.emplace(std::move(name), std::move(value));
  }
  return out;
}

bool is_hex_digest(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// Long values shortened for reading: 64-hex digests to 12 digits, long text to 200 bytes.
std::string shorten(const std::string& value) {
  std::string out;
  std::size_t start = 0;
  while (start <= value.size()) {
    auto end = value.find(' ', start);
    if (end == std::string::npos) end = value.size();
    auto word = std::string_view(value).substr(start, end - start);
    if (!out.empty() || start > 0) out += ' ';
    out += is_hex_digest(word) ? std::string(word.substr(0, 12)) : std::string(word);
    start = end + 1;
  }
  if (out.size() > 200) out = out.substr(0, 197) + "...";
  return out;
}

std::string join(const std::string& name, const std::string& value) {
  return value.empty() ? name : name + ": " + value;
}

} // namespace

std::vector<std::string> explain_diff(const std::optional<std::string>& previous, const std::string& current) {
  if (!previous) return {"no earlier run of this step id"};
  auto before = parse(*previous);
  auto after = parse(current);
  std::vector<std::string> out;
  for (auto it = after.begin(); it != after.end(); it = after.upper_bound(it->first)) {
    const auto& name = it->first;
    auto [ab, ae] = after.equal_range(name);
    auto [bb, be] = before.equal_range(name);
    if (bb == be) {
      for (auto i = ab; i != ae; ++i) out.push_back("+ " + join(name, shorten(i->second)));
      continue;
    }
    // Names are unique in a well-formed manifest; compare the first values.
    if (bb->second != ab->second)
      out.push_back(name + ": " + shorten(bb->second) + " -> " + shorten(ab->second));
  }
  for (auto it = before.begin(); it != before.end(); it = before.upper_bound(it->first))
    if (!after.count(it->first)) out.push_back("- " + it->first);
  if (out.empty()) out.push_back("the manifest is unchanged, but its result is not in the cache");
  return out;
}

} // namespace akbuild::engine
