#pragma once
// Path globs as workflow authors write them (Forgejo/GitHub `paths:` style): `*` and `?` within a
// component, `[a-z]` / `[!a-z]` classes, `{a,b}` alternatives, `**` for any number of components,
// and a trailing `/` meaning "this directory and everything under it". Paths are relative, '/'.

#include <string>
#include <string_view>
#include <vector>

#include "runner/core/result.hh"

namespace akbuild {

class Glob {
public:
  // The compiled pattern, or invalid_argument naming the fault (unbalanced `[` or `{`, `..`,
  // an absolute path, an empty pattern).
  static Result<Glob> parse(std::string_view pattern);

  // Whether the relative path matches.
  bool matches(std::string_view path) const;
  // Whether some path under directory `dir` could match (used to prune a walk).
  bool could_match_below(std::string_view dir) const;
  // The leading components without wildcards ("src/app" for "src/app/**/*.ts").
  std::string literal_prefix() const;
  const std::string& pattern() const { return m_pattern; }

private:
  std::string m_pattern;
  std::vector<std::vector<std::string>> m_alternatives;  // brace-expanded, split on '/'
};

// A set of include globs minus exclude globs.
class GlobSet {
public:
  static Result<GlobSet> parse(const std::vector<std::string>& include, const std::vector<std::string>& exclude);
  bool matches(std::string_view path) const;
  bool could_match_below(std::string_view dir) const;
  bool empty() const { return m_include.empty(); }

private:
  std::vector<Glob> m_include, m_exclude;
};

} // namespace akbuild
