#include "runner/core/glob.hh"

#include <array>

#include <fnmatch.h>

namespace akbuild {

namespace {

// Expands the first top-level {a,b} group recursively.
Result<std::vector<std::string>> expand_braces(std::string_view p, std::string_view whole) {
  std::size_t open = std::string_view::npos;
  int depth = 0;
  bool in_class = false;
  for (std::size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\') { ++i; continue; }
    if (in_class) { if (c == ']') in_class = false; continue; }
    if (c == '[') { in_class = true; continue; }
    if (c == '{') { if (depth++ == 0) open = i; }
    else if (c == '}') {
      if (depth == 0) return fail(ErrorCode::invalid_argument,
                                  "glob '" + std::string(whole) + "': '}' without '{' at column " + std::to_string(i + 1));
      if (--depth == 0) {
        std::vector<std::string> parts;
        int d = 0;
        std::size_t start = open + 1;
        for (std::size_t j = open + 1; j < i; ++j) {
          if (p[j] == '{') ++d;
          else if (p[j] == '}') --d;
          else if (p[j] == ',' && d == 0) { parts.emplace_back(p.substr(start, j - start)); start = j + 1; }
        }
        parts.emplace_back(p.substr(start, i - start));
        std::vector<std::string> out;
        for (auto& part : parts) {
          std::string joined = std::string(p.substr(0, open)) + part + std::string(p.substr(i + 1));
          auto more = AK_TRY(expand_braces(joined, whole));
          out.insert(out.end(), more.begin(), more.end());
        }
        return out;
      }
    }
  }
  if (in_class) return fail(ErrorCode::invalid_argument, "glob '" + std::string(whole) + "': unclosed '['");
  if (depth != 0) return fail(ErrorCode::invalid_argument, "glob '" + std::string(whole) + "': unclosed '{'");
  return std::vector<std::string>{std::string(p)};
}

std::vector<std::string> split_components(std::string_view path) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) out.emplace_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool has_wildcard(std::string_view s) { return s.find_first_of("*?[{\\") != std::string_view::npos; }

// A path's components, split without allocating (matching runs for every file of a scan, on
// several threads sharing one heap).
class Components {
public:
  explicit Components(std::string_view path) {
    std::size_t start = 0;
    while (start < path.size()) {
      std::size_t end = path.find('/', start);
      if (end == std::string_view::npos) end = path.size();
      if (end > start) push(path.substr(start, end - start));
      start = end + 1;
    }
  }
  std::size_t size() const { return m_count; }
  std::string_view operator[](std::size_t i) const { return i < m_inline.size() ? m_inline[i] : m_more[i - m_inline.size()]; }

private:
  void push(std::string_view c) {
    if (m_count < m_inline.size()) m_inline[m_count] = c;
    else m_more.push_back(c);
    ++m_count;
  }
  std::array<std::string_view, 32> m_inline{};
  std::vector<std::string_view> m_more;
  std::size_t m_count = 0;
};

// fnmatch wants NUL-terminated strings: a component is copied into a per-thread buffer.
bool fnmatch_component(const std::string& pattern, std::string_view component) {
  thread_local std::string buffer;
  buffer.assign(component);
  return ::fnmatch(pattern.c_str(), buffer.c_str(), 0) == 0;
}

// Matches pattern components [pi..] against path components [si..].
bool match_from(const std::vector<std::string>& pat, std::size_t pi, const Components& path, std::size_t si,
                bool prefix_only) {
  while (pi < pat.size()) {
    if (pat[pi] == "**") {
      if (pi + 1 == pat.size()) return true;
      for (std::size_t k = si; k <= path.size(); ++k)
        if (match_from(pat, pi + 1, path, k, prefix_only)) return true;
      return false;
    }
    if (si == path.size()) return prefix_only;
    if (!has_wildcard(pat[pi]) ? pat[pi] != path[si] : !fnmatch_component(pat[pi], path[si])) return false;
    ++pi;
    ++si;
  }
  return si == path.size();
}

} // namespace

Result<Glob> Glob::parse(std::string_view pattern) {
  auto bad = [&](std::string why) {
    return fail(ErrorCode::invalid_argument, "glob '" + std::string(pattern) + "': " + why);
  };
  if (pattern.empty()) return bad("empty pattern");
  if (pattern.front() == '/') return bad("must be relative to the workspace");
  Glob g;
  g.m_pattern = std::string(pattern);
  for (auto& alt : AK_TRY(expand_braces(pattern, pattern))) {
    bool dir = !alt.empty() && alt.back() == '/';
    auto comps = split_components(alt);
    for (auto& c : comps) {
      if (c == "..") return bad("'..' leaves the workspace");
      if (c.find("**") != std::string::npos && c != "**") return bad("'**' must be a whole path component");
    }
    if (comps.empty()) return bad("no path components");
    if (dir) comps.emplace_back("**");  // "out/" = everything under out
    g.m_alternatives.push_back(std::move(comps));
  }
  return g;
}

bool Glob::matches(std::string_view path) const {
  Components comps(path);
  for (const auto& alt : m_alternatives)
    if (match_from(alt, 0, comps, 0, false)) return true;
  return false;
}

bool Glob::could_match_below(std::string_view dir) const {
  Components comps(dir);
  for (const auto& alt : m_alternatives)
    if (match_from(alt, 0, comps, 0, true)) return true;
  return false;
}

std::string Glob::literal_prefix() const {
  std::string out;
  if (m_alternatives.size() != 1) return out;
  for (const auto& c : m_alternatives.front()) {
    if (has_wildcard(c)) break;
    if (!out.empty()) out.push_back('/');
    out += c;
  }
  return out;
}

Result<GlobSet> GlobSet::parse(const std::vector<std::string>& include, const std::vector<std::string>& exclude) {
  GlobSet s;
  for (const auto& p : include) s.m_include.push_back(AK_TRY(Glob::parse(p)));
  for (const auto& p : exclude) s.m_exclude.push_back(AK_TRY(Glob::parse(p)));
  return s;
}

bool GlobSet::matches(std::string_view path) const {
  bool in = false;
  for (const auto& g : m_include) if (g.matches(path)) { in = true; break; }
  if (!in) return false;
  for (const auto& g : m_exclude) if (g.matches(path)) return false;
  return true;
}

bool GlobSet::could_match_below(std::string_view dir) const {
  for (const auto& g : m_exclude) {
    // An exclude that matches an arbitrary child of `dir` ("node_modules/" or "dist/**") prunes it;
    // \x01 stands for a name no other pattern component would spell out.
    if (g.matches(std::string(dir) + "/\x01")) return false;
  }
  for (const auto& g : m_include) if (g.could_match_below(dir)) return true;
  return false;
}

} // namespace akbuild
