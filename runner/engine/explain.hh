#pragma once
// Why an action misses: the difference between the last manifest of the same step id and the
// new one, one line per changed fact, with old and new value:
//   input src/a.txt: 5891b5b522d5 -> 1c2d3e4f5a6b     (digests shortened to 12 hex digits)
//   param run: "x" -> "y"
//   + input new.txt: 9f86d081884c
//   - input gone.txt

#include <optional>
#include <string>
#include <vector>

namespace akbuild::engine {

// `previous` nullopt: the single line "no earlier run of this step id".
std::vector<std::string> explain_diff(const std::optional<std::string>& previous, const std::string& current);

} // namespace akbuild::engine
