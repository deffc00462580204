#pragma once
// PEP 508 environment markers and the PEP 440 version comparisons they use.
//
//   marker    := or_expr
//   or_expr   := and_expr ('or' and_expr)*
//   and_expr  := atom ('and' atom)*
//   atom      := '(' or_expr ')' | value op value
//   value     := identifier | 'single' | "double"
//   op        := '<' | '<=' | '==' | '!=' | '>=' | '>' | '~=' | '===' | 'in' | 'not' 'in'
//
// Comparisons of version variables (python_version, python_full_version,
// implementation_version) follow PEP 440 ordering, with `==X.*` prefix matching; other variables
// compare as strings. `extra` and `group` test membership of the active extras and groups (uv
// writes both into lockfile markers); names compare normalised (PEP 503).

#include <compare>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "runner/core/result.hh"

namespace akbuild::steps::python {

// A PEP 440 version: release numbers plus optional pre, post and dev parts (local ignored).
struct Version {
  std::vector<long> release;
  int pre_kind = 3;        // 0 a, 1 b, 2 rc, 3 none (final sorts after pre-releases)
  long pre_num = 0;
  long post = -1;          // -1 none
  long dev = -1;           // -1 none; a dev release sorts before its pre/final
  static Result<Version> parse(std::string_view text);
  std::strong_ordering operator<=>(const Version& other) const;
  bool operator==(const Version& other) const { return (*this <=> other) == 0; }
};

// Whether `version` satisfies `op spec` (spec may end in ".*" with == and !=).
Result<bool> version_matches(std::string_view op, std::string_view spec, const Version& version);

// The environment markers are evaluated in.
struct MarkerEnv {
  std::map<std::string, std::string> values;  // python_version, sys_platform, ...
  std::set<std::string> extras;               // normalised names
  std::set<std::string> groups;               // normalised names
};

// Evaluates a marker; invalid_argument naming the marker and the column on a syntax error.
Result<bool> evaluate_marker(std::string_view marker, const MarkerEnv& env);

// PEP 503 normalisation: lower case, runs of '-', '_', '.' become '-'.
std::string normalize_name(std::string_view name);

} // namespace akbuild::steps::python
