#pragma once
// The files a step writes to talk back to its runner ($GITHUB_OUTPUT, $GITHUB_ENV, $GITHUB_STATE):
// lines `name=value`, or `name<<DELIMITER` followed by value lines and a line `DELIMITER`
// (GitHub's "multiline strings" form). Blank lines are ignored.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runner/core/result.hh"

namespace akbuild::workflow {

// The assignments in order, or invalid_argument "<what>:<line>: ..." for a line with neither
// '=' nor '<<', or an unterminated heredoc.
Result<std::vector<std::pair<std::string, std::string>>> parse_env_file(std::string_view text, std::string_view what);

// $GITHUB_PATH: one directory per non-blank line, in file order.
std::vector<std::string> parse_path_file(std::string_view text);

} // namespace akbuild::workflow
