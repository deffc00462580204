#pragma once
// The built-in functions of the expression language (names matched case-insensitively):
// contains, startsWith, endsWith, format, join, toJSON, fromJSON, hashFiles, case, success,
// always, failure, cancelled. Internal to runner/workflow.

#include <cstddef>
#include <string_view>
#include <vector>

#include "runner/core/result.hh"
#include "runner/workflow/expr/expression.hh"

namespace akbuild::workflow::expr {

struct FunctionInfo {
  std::string_view name;     // lower case
  std::size_t min_args, max_args;
};

// The function called `lower_name`, or nullptr.
const FunctionInfo* find_function(std::string_view lower_name);

// Calls a function on evaluated arguments (arity already checked by the parser).
// contains() over arrays never finds an array or object: the language compares those by
// identity, and arguments arrive here as copies.
Result<Value> call_function(std::string_view lower_name, const std::vector<Value>& args,
                            const EvalContext& ctx);

// format(): `{N}` replaced by argument N, `{{` and `}}` escape braces; an unknown index or a
// lone brace is an error naming the format string.
Result<std::string> format_string(const std::string& fmt, const std::vector<Value>& args);
// hashFiles(): sha256 over the sha256 of each matching regular file under the workspace (paths
// in byte order), hex; "" when nothing matches. Patterns starting with '!' exclude.
Result<std::string> hash_files(const std::filesystem::path& workspace, const std::vector<std::string>& patterns);

} // namespace akbuild::workflow::expr
