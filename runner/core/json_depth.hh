#pragma once
// A bound on the nesting of JSON text read from outside (contexts, event payloads, lockfiles,
// manifests): parsers are iterative, but the code that walks, copies, compares and prints the
// parsed value recurses once per level, so 50,000 nested brackets overflow the stack.

#include <cstddef>
#include <string_view>

#include "runner/core/result.hh"

namespace akbuild {

// Deeper than any real document; a few kilobytes of stack per level leaves plenty of room.
inline constexpr std::size_t k_max_json_depth = 256;

// The deepest nesting of `[` and `{` outside strings, counted lexically; text that is not JSON
// still gets a number, which its parser's error will make moot.
std::size_t json_nesting_depth(std::string_view text);

// invalid_argument "<what>: JSON nested deeper than 256 levels" when it is; ok otherwise.
Result<> check_json_depth(std::string_view text, std::string_view what);

} // namespace akbuild
