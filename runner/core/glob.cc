#include "runner/core/glob.hh"

#include <array>

#include <fnmatch.h>

namespace akbuild {

namespace {

// More alternatives than any workflow writes: `{a,b}` twenty times would be a million patterns.
constexpr std::size_t k_max_alternatives = 1024;

// Expands the first top-level {a,b} group recursively; fails past k_max_alternatives, checked at
// every level so that no level builds more than that.
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
          if (out.size() + more.size() > k_max_alternatives)
            return fail(ErrorCode::invalid_argument, "glob '" + std::string(whole) + "': its {...} groups expand to more than " +
                                                         std::to_string(k_max_alternatives) + " patterns");
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

// Matches a path against pattern components as an NFA: the states are the pattern positions
// 0..pat.size(), advanced once per path component, so the cost is O(|pat| * |path|) whatever the
// `**`s (a backtracking match is exponential in their number). `**` at position p may consume any
// component (it stays at p) or none (epsilon to p + 1). With prefix_only, a path that runs out
// while some state is alive may still have matches below it.
bool match_nfa(const std::vector<std::string>& pat, const Components& path, bool prefix_only) {
  // One byte per state; per-thread buffers, since matching runs for every file of a scan.
  thread_local std::vector<char> cur, next;
  const std::size_t n = pat.size() + 1;
  cur.assign(n, 0);
  auto close = [&](std::vector<char>& states) {  // epsilon moves over `**`
    for (std::size_t p = 0; p + 1 < n; ++p)
      if (states[p] && pat[p] == "**") states[p + 1] = 1;
  };
  cur[0] = 1;
  close(cur);
  for (std::size_t si = 0; si < path.size(); ++si) {
    next.assign(n, 0);
    bool alive = false;
    for (std::size_t p = 0; p + 1 < n; ++p) {
      if (!cur[p]) continue;
      if (pat[p] == "**") next[p] = alive = true;
      else if (!has_wildcard(pat[p]) ? pat[p] == path[si] : fnmatch_component(pat[p], path[si]))
        next[p + 1] = alive = true;
    }
    if (!alive) return false;
    close(next);
    cur.swap(next);
  }
  if (prefix_only) return true;  // some state is alive: the pattern may go on below
  return cur[n - 1] != 0;
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
    if (match_nfa(alt, comps, false)) return true;
  return false;
}

bool Glob::could_match_below(std::string_view dir) const {
  Components comps(dir);
  for (const auto& alt : m_alternatives)
    if (match_nfa(alt, comps, true)) return true;
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
